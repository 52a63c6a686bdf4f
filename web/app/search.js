// Search on a map: places of the gazetteer (in the page's language or English), items by name
// or words (what the page already holds), and coordinates typed as "lat, lon" (latitude first)
// or as an MGRS reference. Enter or a click on a result moves the map there and marks it.

import { t } from "./i18n.js";
import { fromMgrs } from "./mgrs.js";
import { PLACES } from "./views.js";

const L = window.L;

/** What a query names: a list of {label, lat, lon} or {label, bounds}, best first. */
export function resolve(query, features = []) {
  const q = query.trim();
  if (!q) return [];
  const out = [];
  const ll = q.match(/^(-?\d{1,2}(?:\.\d+)?)\s*[,;\s]\s*(-?\d{1,3}(?:\.\d+)?)$/);
  if (ll && Math.abs(+ll[1]) <= 90 && Math.abs(+ll[2]) <= 180) {
    out.push({ kind: "coordinates", label: `${(+ll[1]).toFixed(5)}, ${(+ll[2]).toFixed(5)}`, lat: +ll[1], lon: +ll[2] });
  }
  const grid = fromMgrs(q);
  if (grid) out.push({ kind: "mgrs", label: q.toUpperCase(), lat: grid.lat, lon: grid.lon });
  const low = q.toLowerCase();
  for (const [key, lat, lon] of PLACES) {
    const name = t("place." + key);
    if (name.toLowerCase().includes(low) || key.replaceAll("_", " ").includes(low)) out.push({ kind: "place", label: name, lat, lon });
  }
  for (const f of features) {
    const p = f.properties;
    const words = [p.name, p.restriction, p.description, f.id].filter(Boolean).join(" ").toLowerCase();
    if (low.length >= 3 && words.includes(low)) {
      out.push({ kind: "item", label: p.name || p.restriction || p.description || f.id, feature: f });
    }
    if (out.length >= 12) break;
  }
  return out.slice(0, 12);
}

/** A search box on `map`; `features()` gives the items the page holds now. */
export function searchControl(map, features) {
  let mark = null;
  const go = (r) => {
    if (mark) map.removeLayer(mark);
    if (r.feature) {
      const b = L.geoJSON(r.feature).getBounds();
      map.fitBounds(b, { maxZoom: 12 });
      mark = L.circleMarker(b.getCenter(), { radius: 22, color: "#fff", weight: 3, fill: false, dashArray: "4 4" }).addTo(map);
    } else {
      map.setView([r.lat, r.lon], Math.max(map.getZoom(), 11));
      mark = L.circleMarker([r.lat, r.lon], { radius: 14, color: "#fff", weight: 3, fill: false }).addTo(map);
    }
  };
  const Search = L.Control.extend({
    options: { position: "topleft" },
    onAdd() {
      const box = L.DomUtil.create("form", "map-search");
      box.setAttribute("role", "search");
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      const input = document.createElement("input");
      input.type = "search";
      input.className = "map-search-input";
      const list = document.createElement("ul");
      list.className = "map-search-results";
      const label = () => {
        input.placeholder = t("map.search");
        input.setAttribute("aria-label", t("map.search"));
      };
      label();
      const show = () => {
        const results = resolve(input.value, features());
        list.replaceChildren(
          ...results.map((r) => {
            const li = document.createElement("li");
            const b = document.createElement("button");
            b.type = "button";
            b.className = "link";
            b.dataset.kind = r.kind;
            b.dir = "auto";
            b.textContent = `${t("search." + r.kind)}: ${r.label}`;
            b.addEventListener("click", () => go(r));
            li.append(b);
            return li;
          }),
        );
        if (input.value.trim() && !results.length) {
          const li = document.createElement("li");
          li.className = "muted";
          li.textContent = t("search.none");
          list.append(li);
        }
        return results;
      };
      input.addEventListener("input", show);
      box.addEventListener("submit", (e) => {
        e.preventDefault();
        const results = show();
        if (results.length) go(results[0]);
      });
      box.append(input, list);
      box.relabel = label;
      return box;
    },
  });
  return new Search();
}
