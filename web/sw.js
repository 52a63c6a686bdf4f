// The service worker of cmcop's pages, served at /sw.js so that its scope is the whole site.
// It keeps the page shells and every asset of this build (scripts, styles, translations,
// Leaflet, the basemap), so that after one visit the pages open with no network at all. The
// live picture, the session and every API call still go to the server: nothing here keeps
// data. The server fills in %VERSION% and %PRECACHE% (src/web/mod.rs).

const VERSION = "%VERSION%";
const CACHE = `cmcop-${VERSION}`;
const SHELLS = ["/", "/wall", "/board", "/planner", "/desk", "/meetings", "/web/config"];
const PRECACHE = %PRECACHE%;
/** How long a page shell waits for the network before it opens from the cache. */
const NETWORK_WAIT_MS = 4000;

self.addEventListener("install", (event) => {
  // Assets the page already loaded come from the HTTP cache (they are immutable), not again
  // over the network.
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll([...SHELLS, ...PRECACHE]))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  // An older build's cache goes; this worker takes the open pages at once.
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("cmcop-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith(`/static/${VERSION}/`)) {
    // This build's assets never change: the cache first.
    event.respondWith(caches.match(url.pathname).then((hit) => hit || fetch(request)));
  } else if (SHELLS.includes(url.pathname)) {
    event.respondWith(networkFirst(request, url.pathname));
  }
  // Everything else (the API, the session, the WebSocket, another build's assets) goes to the
  // server as if there were no worker.
});

/** The network when it answers in time (and the cache is refreshed), else the cached shell. */
async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  const network = fetch(request).then((response) => {
    if (response.ok) cache.put(key, response.clone());
    return response;
  });
  network.catch(() => {});
  const late = new Promise((resolve) => setTimeout(resolve, NETWORK_WAIT_MS));
  try {
    const response = await Promise.race([network, late]);
    if (response) return response;
  } catch (_) {
    // No network: the cached shell below.
  }
  return (await cache.match(key)) || network;
}
