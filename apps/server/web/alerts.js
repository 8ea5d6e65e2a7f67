// Alerts in the page: the arming mode switch and why, each channel's health, "Enable
// notifications on this device" (Web Push) and "Send a test". Self-contained: it renders into
// #alerts-card and talks to /api/alerts, /api/arming, /api/push/* only. Text from the server is
// set with textContent only.

// Where the card renders: set by mountAlerts() (the System view).
let card = null;

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(data.message || `${response.status} ${response.statusText}`), { code: data.code });
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function base64UrlToBytes(text) {
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

const view = { data: null, message: '', error: false, busy: false };

function say(text, error = false) {
  view.message = text;
  view.error = error;
  render();
}

/** The page's service worker (the app's own, which imports push-sw.js), else push-sw.js alone. */
async function serviceWorker() {
  const existing = await navigator.serviceWorker.getRegistration('/');
  const registration = existing || (await navigator.serviceWorker.register('/sw.js', { scope: '/' }));
  await navigator.serviceWorker.ready;
  return registration;
}

async function enableNotifications() {
  if (!window.isSecureContext) throw new Error('notifications need HTTPS: set server.tls (see docs/security.md)');
  if (!('serviceWorker' in navigator) || !('PushManager' in window)) {
    throw new Error('this browser has no Web Push here; on iPhone and iPad add Preroll to the home screen first (Share → Add to Home Screen) and open it from there');
  }
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new Error(`notifications were not allowed (${permission}); allow them in the browser's site settings`);
  const { publicKey } = await call('GET', '/api/push/key');
  const registration = await serviceWorker();
  const subscription =
    (await registration.pushManager.getSubscription()) ||
    (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlToBytes(publicKey) }));
  await call('POST', '/api/push/subscriptions', { subscription: subscription.toJSON(), label: navigator.userAgent.slice(0, 120) });
  say('Notifications are on for this device.');
}

async function disableNotifications() {
  const registration = await navigator.serviceWorker.getRegistration('/');
  const subscription = registration && (await registration.pushManager.getSubscription());
  if (subscription) {
    await call('DELETE', '/api/push/subscriptions', { endpoint: subscription.endpoint }).catch(() => null);
    await subscription.unsubscribe();
  }
  say('Notifications are off for this device.');
}

async function sendTest() {
  const result = await call('POST', '/api/alerts/test', {});
  const lines = result.results.map((r) => (r.ok ? `${r.channel}: sent (${r.ms} ms)` : `${r.channel}: ${r.code}: ${r.message}`));
  say(lines.join('\n'), !result.ok);
}

async function setMode(mode) {
  await call('PUT', '/api/arming', { mode, from: 'page' });
  await refresh();
}

async function run(fn) {
  if (view.busy) return;
  view.busy = true;
  render();
  try {
    await fn();
  } catch (error) {
    say(error.code ? `${error.code}: ${error.message}` : error.message, true);
  } finally {
    view.busy = false;
    render();
  }
}

function render() {
  if (!card) return;
  const data = view.data;
  card.replaceChildren();
  card.append(el('h2', { text: 'Alerts' }));
  if (!data) {
    card.append(el('p', { class: 'muted small', text: 'loading…' }));
    return;
  }
  const arming = data.arming;
  const modes = el('div', { class: 'buttons', role: 'group', 'aria-label': 'arming mode' });
  for (const mode of ['home', 'away', 'off']) {
    const label = mode[0].toUpperCase() + mode.slice(1);
    modes.append(el('button', { id: `arming-${mode}`, class: arming.mode === mode ? 'primary' : '', 'aria-pressed': String(arming.mode === mode), onclick: () => run(() => setMode(mode)) }, label));
  }
  card.append(modes, el('p', { id: 'arming-reason', class: 'small', text: arming.reason }));
  if (data.notify) {
    const list = el('dl', { class: 'system' });
    for (const c of data.notify.channels) {
      const health = c.failing ? `failing: ${c.lastError ? `${c.lastError.code}: ${c.lastError.message}` : ''}` : `${c.alerts} sent, ${c.updates} updates${c.queued ? `, ${c.queued} waiting` : ''}`;
      list.append(el('dt', { text: c.name }), el('dd', { class: c.failing ? 'error' : '', text: health }));
    }
    card.append(list);
    const buttons = el('div', { class: 'buttons' });
    if (data.vapidPublicKey) {
      buttons.append(el('button', { id: 'push-enable', onclick: () => run(enableNotifications) }, 'Enable notifications on this device'));
      buttons.append(el('button', { id: 'push-disable', onclick: () => run(disableNotifications) }, 'Turn them off here'));
    }
    buttons.append(el('button', { id: 'alerts-test', onclick: () => run(sendTest) }, 'Send a test'));
    for (const b of buttons.querySelectorAll('button')) b.disabled = view.busy;
    card.append(buttons);
    if (data.vapidPublicKey) {
      card.append(el('p', { class: 'muted small', text: 'Notifications need HTTPS (server.tls). On iPhone and iPad they work in the web app added to the home screen.' }));
    }
  } else {
    card.append(el('p', { class: 'muted small', text: 'No alert channel is configured (integrations.notify; see docs/integrations.md).' }));
  }
  card.append(el('p', { id: 'alerts-message', class: view.error ? 'small error' : 'small', role: 'status', style: 'white-space: pre-line', text: view.message }));
}

async function refresh() {
  try {
    view.data = await call('GET', '/api/alerts');
  } catch (error) {
    view.message = error.message;
    view.error = true;
  }
  render();
}

// An alert's link lands on /#event=<id>: open that event once the page's own script is ready.

/** Renders the alerts card into `element` and keeps it fresh; returns the function that stops it. */
export function mountAlerts(element) {
  card = element;
  render();
  void refresh();
  const timer = setInterval(() => void refresh(), 15000);
  return () => {
    clearInterval(timer);
    if (card === element) card = null;
  };
}

