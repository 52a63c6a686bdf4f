// How an item looks, decided in one place and readable without colour: every status has its
// own shape or line pattern as well as its colour (issue 18.8). Constraints: closed a solid
// square with a cross, restricted a striped triangle, open a ring, unknown a dashed ring with
// a question mark; their lines solid, dashed, dotted, dash-dot; their areas cross-hatched,
// striped, dotted or outlined. Movements: planned dashed, en route solid, arrived thin,
// aborted dash-dot, cancelled dotted. Incidents: a diamond, hollow when reported, solid when
// confirmed, struck through when refuted. Military items (marked military, or written on the
// military side) are drawn in APP-6 / MIL-STD-2525C symbology with milsymbol
// (web/vendor/milsymbol, a classic script defining `ms`); humanitarian (civil) items carry
// simple pictograms in the style of OCHA's humanitarian icons, drawn here.
//
// Pure: builds SVG strings and Leaflet style objects; draws nothing on a map itself.

/** One palette for every layer; no two values closer than ΔE*76 = 20 (tested). */
export const PALETTE = {
  constraints: { closed: "#ff3b30", restricted: "#ffb000", open: "#34c759", unknown: "#a1a1aa" },
  movements: { planned: "#5eb0ff", en_route: "#00e5ff", arrived: "#b9a6ff", aborted: "#ffa3d1", cancelled: "#5b6270" },
  incidents: {
    battles: "#d0306f",
    explosions_remote_violence: "#ff7a1a",
    violence_against_civilians: "#c45cff",
    protests: "#fff06a",
    riots: "#c8ff6a",
    strategic_developments: "#2dc8b4",
    other: "#f2f2f2",
  },
  displacements: { displacement: "#be30a2", return: "#b56380" },
  areas: { military_operations: "#fd8b96", contested: "#ea9d72", retaken: "#7570be", safe_for_return: "#28da9a" },
  needs: {
    food_security: "#f2a93b",
    health: "#e8536b",
    wash: "#3fa9f5",
    shelter_nfi: "#b08a5a",
    protection: "#9b6bd6",
    education: "#f5d74a",
    logistics: "#8a9bb0",
    emergency_telecoms: "#4fd1c5",
  },
  contacts: {
    liaison_officer: "#7dd3fc",
    duty_desk: "#a7f3d0",
    access_negotiation: "#fcd34d",
    security: "#fca5a5",
    logistics: "#c4b5fd",
    cluster_coordination: "#f9a8d4",
    other: "#d4d4d8",
  },
};

/** Area outlines: the pattern says the status without colour. */
const AREA_DASH = { military_operations: null, contested: [3, 1.6], retaken: [0.1, 2], safe_for_return: [2.4, 1.2, 0.1, 1.2] };

export const STATUSES = {
  displacements: ["displacement", "return"],
  areas: ["military_operations", "contested", "retaken", "safe_for_return"],
  constraints: ["closed", "restricted", "open", "unknown"],
  movements: ["planned", "en_route", "arrived", "aborted", "cancelled"],
  incidents: ["reported", "confirmed", "refuted"],
  needs: ["food_security", "health", "wash", "shelter_nfi", "protection", "education", "logistics", "emergency_telecoms"],
  contacts: ["liaison_officer", "duty_desk", "access_negotiation", "security", "logistics", "cluster_coordination", "other"],
};

/**
 * The severity of a need on the scale of humanitarian needs overviews (1 minimal to 5
 * catastrophic), light to dark as the overviews' maps draw it; the sector's colour (PALETTE)
 * rings it.
 */
export const SEVERITY = { 1: "#fff3c4", 2: "#fdd49e", 3: "#fc8d59", 4: "#d7301f", 5: "#7f0000" };

export function colorOf(p) {
  if (p.layer === "incidents") return PALETTE.incidents[p.event_type] || PALETTE.incidents.other;
  if (p.layer === "displacements") return PALETTE.displacements[p.direction] || "#ffffff";
  if (p.layer === "needs") return PALETTE.needs[p.sector] || "#ffffff";
  if (p.layer === "contacts") return PALETTE.contacts[p.function] || PALETTE.contacts.other;
  return (PALETTE[p.layer] || {})[p.status] || "#ffffff";
}

/** A need's marker: a square filled by severity, ringed by its sector, with the figure. */
export function needShape(severity, sectorColor) {
  const fill = SEVERITY[severity] || "#a1a1aa";
  const ink = severity >= 4 ? "#ffffff" : "#1a1a1a";
  return `<rect x="2.5" y="2.5" width="19" height="19" rx="3" fill="${fill}" stroke="${sectorColor}" stroke-width="3"/>` +
    `<text x="12" y="16.6" text-anchor="middle" font-size="12" font-weight="700" font-family="sans-serif" fill="${ink}">${severity || "?"}</text>`;
}

/** A contact point's marker: a speech-bubble badge in its function's colour. */
export function contactShape(color) {
  return `<path d="M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2h-8l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z" fill="${color}" stroke="#1a1a1a" stroke-width="1.5"/>` +
    `<circle cx="8" cy="10.5" r="1.4" fill="#1a1a1a"/><circle cx="12" cy="10.5" r="1.4" fill="#1a1a1a"/><circle cx="16" cy="10.5" r="1.4" fill="#1a1a1a"/>`;
}

/** The organisations whose items are military (the deployment's `web.military_orgs`). */
const militaryOrgs = new Set();

export function setMilitaryOrgs(orgs) {
  militaryOrgs.clear();
  for (const o of orgs || []) militaryOrgs.add(o);
}

/**
 * Military items take APP-6 symbols: marked military, written by a military organisation, or
 * (from a peer centre) written on the military side.
 */
export function isMilitary(p) {
  return p.marking === "military" || militaryOrgs.has(p.org) || p.side === "military";
}

/** Line patterns (SVG dash arrays at weight 1; scaled by the line's weight). */
const CONSTRAINT_DASH = { closed: null, restricted: [3, 1.6], open: [0.1, 2], unknown: [2.4, 1.2, 0.1, 1.2] };
const MOVEMENT_DASH = { planned: [3, 2], en_route: null, arrived: null, aborted: [3, 1.2, 0.1, 1.2], cancelled: [0.1, 1.6] };
const MOVEMENT_WEIGHT = { planned: 4, en_route: 5, arrived: 2.5, aborted: 4, cancelled: 3 };

function dash(pattern, weight) {
  return pattern ? pattern.map((d) => Math.max(0.1, d * weight).toFixed(1)).join(" ") : null;
}

/** Leaflet path options for a constraint's line or area, or a movement's route. */
export function pathStyle(p, { scale = 1, area = false } = {}) {
  const color = colorOf(p);
  const dim = p.stale ? 0.4 : 1;
  if (p.layer === "movements") {
    const weight = (MOVEMENT_WEIGHT[p.status] || 4) * scale;
    return {
      color,
      weight,
      opacity: (p.status === "arrived" || p.status === "cancelled" ? 0.75 : 0.95) * dim,
      dashArray: dash(MOVEMENT_DASH[p.status], weight),
      lineCap: "round",
      className: `route status-${p.status}`,
    };
  }
  if (p.layer === "areas") {
    const weight = 3 * scale;
    return {
      color,
      weight,
      opacity: 0.9 * dim,
      dashArray: dash(AREA_DASH[p.status], weight),
      fillColor: color,
      fillOpacity: (p.status === "military_operations" ? 0.28 : 0.14) * dim,
      className: `area status-${p.status}`,
    };
  }
  const weight = (p.status === "closed" ? 7 : 5) * scale;
  return {
    color,
    weight: area ? weight / 2 : weight,
    opacity: 0.95 * dim,
    dashArray: dash(CONSTRAINT_DASH[p.status], area ? weight / 2 : weight),
    lineCap: "round",
    fillColor: area ? `url(#cm-fill-${p.status in CONSTRAINT_DASH ? p.status : "unknown"})` : color,
    fillOpacity: area ? 0.9 * dim : 0,
    className: `constraint-${area ? "area" : "line"} status-${p.status}`,
  };
}

/** The fill patterns of constraint areas, defined once per document (Leaflet's paths use them). */
export function ensurePatterns(doc = document) {
  if (doc.getElementById("cm-patterns")) return;
  const c = PALETTE.constraints;
  const svg = doc.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.id = "cm-patterns";
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("width", "0");
  svg.setAttribute("height", "0");
  svg.style.position = "absolute";
  svg.innerHTML = `<defs>
<pattern id="cm-fill-closed" width="10" height="10" patternUnits="userSpaceOnUse"><path d="M0 0L10 10M10 0L0 10" stroke="${c.closed}" stroke-width="2" opacity=".7"/></pattern>
<pattern id="cm-fill-restricted" width="10" height="10" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="4" height="10" fill="${c.restricted}" opacity=".45"/></pattern>
<pattern id="cm-fill-open" width="10" height="10" patternUnits="userSpaceOnUse"><circle cx="5" cy="5" r="1.6" fill="${c.open}" opacity=".7"/></pattern>
<pattern id="cm-fill-unknown" width="10" height="10" patternUnits="userSpaceOnUse"><rect width="10" height="10" fill="none"/></pattern>
</defs>`;
  doc.body.append(svg);
}

// --- humanitarian pictograms (24 × 24, drawn in `currentColor` on the status shape) ---------

const GLYPHS = {
  // A truck, as OCHA's "convoy" icon.
  convoy: '<path d="M3 8h10v8H3zM13 11h4l3 3v2h-7z" fill="currentColor"/><circle cx="7" cy="17.5" r="1.8" fill="currentColor"/><circle cx="16.5" cy="17.5" r="1.8" fill="currentColor"/>',
  // A barrier arm on a post, as OCHA's "checkpoint".
  checkpoint: '<path d="M5 6v13" stroke="currentColor" stroke-width="2.4"/><path d="M5 9h14" stroke="currentColor" stroke-width="3" stroke-dasharray="3 2"/>',
  // A road block: a striped board on two legs.
  road_closure: '<path d="M4 8h16v5H4z" fill="currentColor"/><path d="M7 13v6M17 13v6" stroke="currentColor" stroke-width="2"/>',
  // Crossed arrows: an area of operations.
  operation_area: '<path d="M5 5l14 14M19 5L5 19" stroke="currentColor" stroke-width="2.6"/>',
  // A clock: a curfew.
  curfew: '<circle cx="12" cy="12" r="7" fill="none" stroke="currentColor" stroke-width="2.2"/><path d="M12 8v4l3 2" stroke="currentColor" stroke-width="2" fill="none"/>',
  // An exclamation mark: a hazard.
  hazard: '<path d="M12 5v9" stroke="currentColor" stroke-width="3"/><circle cx="12" cy="18" r="1.8" fill="currentColor"/>',
  other: '<circle cx="12" cy="12" r="3" fill="currentColor"/>',
};

/** A constraint's status shape (24 × 24) with a pictogram of its kind inside. */
export function constraintShape(status, kind, color) {
  const glyph = GLYPHS[kind] || GLYPHS.other;
  const inner = (fg, k, dy = 0) => `<g transform="translate(${12 - 12 * k} ${12 - 12 * k + dy}) scale(${k})" style="color:${fg}">${glyph}</g>`;
  switch (status) {
    case "closed":
      // Solid square with a cross: the one shape that says "no passage".
      return `<rect x="2" y="2" width="20" height="20" rx="2" fill="${color}" stroke="#000" stroke-width="1.5"/><path d="M6 6l12 12M18 6L6 18" stroke="#fff" stroke-width="3"/>`;
    case "restricted":
      return `<path d="M12 1.5L23 21.5H1z" fill="#0b0f14"/><path d="M12 1.5L23 21.5H1z" fill="url(#cm-fill-restricted)" stroke="${color}" stroke-width="2.4" stroke-linejoin="round"/>${inner("#fff", 0.45, 2.4)}`;
    case "open":
      return `<circle cx="12" cy="12" r="9.5" fill="#0b0f14" stroke="${color}" stroke-width="3.2"/>${inner(color, 0.5)}`;
    default:
      return `<circle cx="12" cy="12" r="9.5" fill="#0b0f14" stroke="${color}" stroke-width="2.4" stroke-dasharray="3 2.2"/><text x="12" y="16.5" text-anchor="middle" font-size="13" font-weight="800" fill="${color}">?</text>`;
  }
}

/** An incident's diamond: hollow (reported), solid (confirmed), struck through (refuted). */
export function incidentShape(verification, color) {
  const d = "M12 1.5L22.5 12L12 22.5L1.5 12z";
  if (verification === "confirmed") return `<path d="${d}" fill="${color}" stroke="#000" stroke-width="1.5"/>`;
  if (verification === "refuted") {
    return `<path d="${d}" fill="#0b0f14" fill-opacity=".6" stroke="${color}" stroke-width="2" stroke-opacity=".7"/><path d="M3 21L21 3" stroke="#fff" stroke-width="2.6"/><path d="M3 21L21 3" stroke="#000" stroke-width="1"/>`;
  }
  return `<path d="${d}" fill="#0b0f14" fill-opacity=".7" stroke="${color}" stroke-width="3"/>`;
}

/** A movement's position: a truck on a rounded square of its status colour. */
export function movementShape(status, color) {
  const frame = status === "planned" ? ' stroke-dasharray="3 2"' : "";
  return `<rect x="1.5" y="1.5" width="21" height="21" rx="5" fill="${color}" stroke="#fff" stroke-width="2"${frame}/><g style="color:#0b0f14">${GLYPHS.convoy}</g>`;
}

export function svg(body, size, title) {
  const label = title ? `<title>${escapeXml(title)}</title>` : "";
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="${size}" height="${size}" aria-hidden="true" focusable="false">${label}${body}</svg>`;
}

function escapeXml(s) {
  return String(s).replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]);
}

// --- military symbols (milsymbol) -----------------------------------------------------------

/**
 * The MIL-STD-2525C symbol code for a military item, or null when the standard has no point
 * symbol that says what the item is (then the status shape is drawn, with a military frame).
 * Movements are friendly transport units, planned ones with the dashed "anticipated" frame;
 * checkpoints and road blocks are the control measures of those names; incidents are stability
 * operations events of an unknown actor.
 */
export function sidcOf(p) {
  if (p.layer === "movements") return `SFG${p.status === "planned" ? "A" : "P"}UST---*****`;
  if (p.layer === "constraints") {
    if (p.kind === "checkpoint") return "GFGPGPPK------X";
    if (p.kind === "road_closure") return "GFMPORC-------X";
    return null;
  }
  if (p.layer === "incidents") {
    const code = {
      battles: "OUVPS",
      explosions_remote_violence: "OUVPE",
      violence_against_civilians: "OUVPK",
      protests: "OUOPD",
      riots: "OUOPR",
    }[p.event_type] || "OUIP-";
    // A report not yet confirmed takes the dashed frame of the standard's "anticipated" status.
    const status = p.verification === "reported" ? "A" : "P";
    return `${code.slice(0, 3)}${status}${code.slice(4)}-----*****`;
  }
  return null;
}

/** milsymbol's SVG for a code, with its anchor; null without milsymbol or for a bad code. */
export function milSymbol(sidc, size) {
  const ms = globalThis.ms;
  if (!ms || !sidc) return null;
  // Control measures (G…) are drawn in black by default, lost on the dark map: light, with a
  // dark outline; units and events keep their standard fill colours, outlined too.
  const light = sidc.startsWith("G") ? { monoColor: "#f2f5f9" } : {};
  const s = new ms.Symbol(sidc, { size, outlineColor: "#05080c", outlineWidth: 2, ...light });
  if (!s.isValid()) return null;
  const box = s.getSize();
  const anchor = s.getAnchor();
  return { svg: s.asSVG(), width: Math.ceil(box.width), height: Math.ceil(box.height), anchor: [anchor.x, anchor.y] };
}

/**
 * The HTML of a point item's marker and its size and anchor, for a Leaflet divIcon: the
 * military symbol with a small status badge, or the status shape. `size` is in CSS pixels.
 */
export function pointMarker(p, size) {
  const color = colorOf(p);
  if (p.layer === "needs" || p.layer === "contacts") {
    const body = p.layer === "needs" ? needShape(p.severity, color) : contactShape(color);
    const status = p.layer === "needs" ? `severity-${p.severity || "unknown"}` : `function-${p.function}`;
    return { html: `<span class="sym sym-hum ${status}">${svg(body, size)}</span>`, size: [size, size], anchor: [size / 2, size / 2] };
  }
  const status = p.layer === "incidents" ? p.verification : p.status;
  const shapeOf = () =>
    p.layer === "incidents" ? incidentShape(status, color) : p.layer === "movements" ? movementShape(status, color) : constraintShape(status, p.kind, color);
  if (isMilitary(p)) {
    const mil = milSymbol(sidcOf(p), size * 0.9);
    if (mil) {
      // The status stays readable next to the symbol: its own shape as a badge.
      const badge = svg(shapeOf(), Math.round(size * 0.55));
      const strike = p.layer === "incidents" && status === "refuted" ? '<span class="sym-strike"></span>' : "";
      return {
        html: `<span class="sym sym-mil status-${status}" data-sidc="${sidcOf(p)}">${mil.svg}<span class="sym-badge">${badge}</span>${strike}</span>`,
        size: [mil.width, mil.height],
        anchor: mil.anchor,
      };
    }
  }
  const civil = isMilitary(p) ? "" : " sym-hum";
  return {
    html: `<span class="sym${civil} status-${status}">${svg(shapeOf(), size)}</span>`,
    size: [size, size],
    anchor: [size / 2, size / 2],
  };
}
