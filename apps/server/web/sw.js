'use strict';
// Preroll's service worker: keeps the app shell (the page and its hashed assets) so the app
// opens offline and shows "no connection" instead of a browser error. It never caches media,
// API answers, streams or the WebSocket: those are always live. Web Push will live here too.

const ASSETS = '%ASSETS%';
// Web Push (alerts): shows the notification with the snapshot and opens the event when tapped.
importScripts(`${ASSETS}/push-sw.js`);
const CACHE = `preroll-shell-${ASSETS.split('/').pop()}`;
const SHELL = ['/', `${ASSETS}/style.css`, `${ASSETS}/app/main.js`, `${ASSETS}/vendor/htm-preact-standalone-3.1.1.js`, `${ASSETS}/icons/icon-192.png`];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  // Caches of older versions go: their hashed assets are never asked for again.
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((key) => key.startsWith('preroll-shell-') && key !== CACHE).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === 'navigate' && (url.pathname === '/' || url.pathname === '/index.html')) {
    // Network first: a fresh shell (and the login redirect) whenever the server answers.
    event.respondWith(
      fetch(request).then(
        (response) => {
          if (response.ok && response.type === 'basic') {
            const copy = response.clone();
            event.waitUntil(caches.open(CACHE).then((cache) => cache.put('/', copy)));
          }
          return response;
        },
        (error) => caches.match('/').then((cached) => cached || Promise.reject(error)),
      ),
    );
    return;
  }
  if (url.pathname.startsWith(`${ASSETS}/`)) {
    // Hashed assets never change: cache first, then keep what the network gave.
    event.respondWith(
      caches.match(request).then(
        (cached) =>
          cached ||
          fetch(request).then((response) => {
            if (response.ok) {
              const copy = response.clone();
              event.waitUntil(caches.open(CACHE).then((cache) => cache.put(request, copy)));
            }
            return response;
          }),
      ),
    );
  }
  // Everything else (API, clips, thumbnails, streams) goes to the network untouched.
});
