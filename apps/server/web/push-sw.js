// Web Push in the service worker: shows Preroll's alerts (title, text, snapshot) and opens the
// event when tapped. The app's own service worker imports this file
// (`importScripts('/push-sw.js')`); on its own it is a complete service worker too.

self.addEventListener('push', (event) => {
  let alert = { title: 'Preroll', body: 'Motion', url: null, image: null, tag: 'preroll', timestamp: Date.now() };
  try {
    alert = { ...alert, ...event.data.json() };
  } catch (error) {
    alert.body = event.data ? event.data.text() : alert.body;
    console.warn('push payload is not JSON', error);
  }
  event.waitUntil(
    self.registration.showNotification(alert.title, {
      body: alert.body,
      image: alert.image || undefined,
      icon: '/favicon.svg',
      tag: alert.tag,
      renotify: true,
      timestamp: alert.timestamp,
      data: { url: alert.url || '/' },
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || '/';
  event.waitUntil(self.clients.openWindow(url));
});
