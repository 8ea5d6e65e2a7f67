'use strict';
// The login page: posts the user name (empty: the admin) and password, then opens the app.
function credentials() {
  const user = document.getElementById('user').value.trim();
  const password = document.getElementById('password').value;
  return user ? { user, password } : { password };
}

document.getElementById('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = document.getElementById('login-error');
  error.textContent = '';
  let response;
  try {
    response = await fetch('/api/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(credentials()),
    });
  } catch (failure) {
    error.textContent = `no connection to the recorder (${failure.message})`;
    return;
  }
  if (response.ok) {
    location.href = '/';
    return;
  }
  const body = await response.json().catch(() => ({ message: response.statusText }));
  error.textContent = body.message || 'login failed';
});
