// Search state: URL query string <-> state object <-> API request body. Pure functions, no DOM.
//
// URL shape (shareable, also what the back button restores):
//   ?q=chest&level=study&modality=CT&modality=MR&sex=F&age=60..&study_year=2000..2010&sort=-age
// keyword filters repeat their parameter (values OR'ed), ranges are LO..HI with either bound
// optional (the same syntax as `ihub search -f age=60..`).

export const LEVELS = [
  { id: "collection", label: "Datasets", unit: ["dataset", "datasets"] },
  { id: "subject", label: "Subjects", unit: ["subject", "subjects"] },
  { id: "study", label: "Studies", unit: ["study", "studies"] },
  { id: "series", label: "Series", unit: ["series", "series"] },
];
export const DEFAULT_LEVEL = "series";

// The fields come from the server (GET /api/v1/facets, the field registry): configure()
// fills these live bindings before the first parseUrl. Each facet: {name, label, range,
// control: "values" | "buckets" | "range", names: {value: label}}.
export let FACETS = [];
export let FACET_NAMES = [];
export let LABELS = {};           // every searchable field's label (chips)
export let RANGE_FIELDS = [];
let BOOLEAN_FIELDS = [];
let KEYWORD_FIELDS = [];
export let FIELD_ORDER = [];
export let SORTS = [];
export let DEFAULT_FACETS = [];

/** A field's label; before configure(), its name made readable ("study_uid" → "Study uid"). */
export function labelOf(name) {
  const plain = name.replaceAll("_", " ");
  return LABELS[name] || plain.charAt(0).toUpperCase() + plain.slice(1);
}

/** Take the field registry from the API's GET /api/v1/facets answer. */
export function configure(meta) {
  const fields = meta.fields || [];
  FACETS = fields.filter((f) => f.control).map((f) => ({ name: f.name, label: f.label,
    range: f.kind === "range", control: f.control, names: f.display || {} }));
  FACET_NAMES = FACETS.map((f) => f.name);
  LABELS = Object.fromEntries(fields.map((f) => [f.name, f.label]));
  RANGE_FIELDS = fields.filter((f) => f.kind === "range").map((f) => f.name);
  BOOLEAN_FIELDS = fields.filter((f) => f.kind === "boolean").map((f) => f.name);
  KEYWORD_FIELDS = fields.filter((f) => f.kind !== "range").map((f) => f.name);
  FIELD_ORDER = [...KEYWORD_FIELDS, ...RANGE_FIELDS];
  SORTS = (meta.sort_fields || []).flatMap((s) => [s, `-${s}`]);
  DEFAULT_FACETS = meta.default_facets || [];
}

const AGE_STEP = 10;       // the API's age facet buckets are decades: "0-9" ... "90-99", "100+"
const AGE_TOP = 9.99;      // a bucket "60-69" holds 60 <= age < 70; ages are stored to 4
                           // decimals from D/W/M/Y units, none falls in (69.99, 70)

/** State from a query string (location.search). Unknown parameters are ignored. */
export function parseUrl(search) {
  const p = new URLSearchParams(search);
  const filters = {};
  // before configure() (the server could not be asked): every parameter is shown as typed
  const keywords = FIELD_ORDER.length ? KEYWORD_FIELDS
    : [...new Set(p.keys())].filter((k) => !["q", "level", "sort"].includes(k));
  for (const name of keywords) {
    const values = p.getAll(name).filter((v) => v !== "");
    if (values.length) filters[name] = [...new Set(values)];
  }
  for (const name of RANGE_FIELDS) {
    const raw = p.get(name);
    if (raw) filters[name] = parseRange(raw);
  }
  const level = LEVELS.some((l) => l.id === p.get("level")) ? p.get("level") : DEFAULT_LEVEL;
  const sort = SORTS.includes(p.get("sort")) ? p.get("sort") : null;
  return { text: (p.get("q") || "").trim() || null, level, sort, filters };
}

/** "60..70" / "60.." / "..70" / "65" → {gte, lte}; non-numbers are passed on as written so
 * the API names the problem. */
export function parseRange(raw) {
  const [lo, hi] = raw.includes("..") ? raw.split("..", 2) : [raw, raw];
  const range = {};
  if (lo !== "") range.gte = toNumber(lo);
  if (hi !== "") range.lte = toNumber(hi);
  return range;
}

function toNumber(text) {
  const n = Number(text.trim());
  return text.trim() !== "" && Number.isFinite(n) ? n : text;
}

export function formatRange(r) {
  return `${r.gte ?? ""}..${r.lte ?? ""}`;
}

/** Query string (with leading "?", or "" for the empty state) of a state; stable order. */
export function toUrl(state) {
  const p = new URLSearchParams();
  if (state.text) p.set("q", state.text);
  if (state.level && state.level !== DEFAULT_LEVEL) p.set("level", state.level);
  for (const name of FIELD_ORDER) {
    const v = state.filters[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) v.forEach((x) => p.append(name, x));
    else if (v.gte !== undefined || v.lte !== undefined) p.set(name, formatRange(v));
  }
  if (state.sort && state.level === "series") p.set("sort", state.sort);
  const s = p.toString();
  return s ? `?${s}` : "";
}

/** The API's filters object for a state (booleans as booleans, ranges as {gte, lte}). */
export function apiFilters(state) {
  const out = {};
  for (const [name, v] of Object.entries(state.filters)) {
    if (BOOLEAN_FIELDS.includes(name)) {
      out[name] = v.map((x) => (x === "true" ? true : x === "false" ? false : x));
    } else {
      out[name] = v;
    }
  }
  return out;
}

/** POST /api/v1/search body for a state. */
export function searchBody(state, { facets = FACETS.filter((f) => f.control !== "range")
  .map((f) => f.name), counts = true, size = 50,
  after = null, level = state.level } = {}) {
  const body = { text: state.text, filters: apiFilters(state), facets, level, counts,
    page: { size, after } };
  if (level === "series" && state.sort) body.sort = state.sort;
  return body;
}

/** POST /api/v1/cohort/count body for a state. */
export function countBody(state) {
  return { text: state.text, filters: apiFilters(state) };
}

// The cohort's charts: these facets counted in subjects, no hits, no counts.
export const CHART_FIELDS = ["age", "sex", "modality"];

/** POST /api/v1/search body for the cohort charts of a state. */
export function chartBody(state) {
  return { text: state.text, filters: apiFilters(state), facets: CHART_FIELDS,
    facet_unit: "subjects", counts: false, page: { size: 0 } };
}

/** by_collection entries ([id, counts]) most matching subjects first, then series, then
 * id; a suppressed count (null) sorts as unknown, after every known one. */
export function byMatches(byCollection) {
  const n = (block, kind) => block?.[kind]?.count ?? -1;
  return Object.entries(byCollection || {}).sort(([a, x], [b, y]) =>
    n(y, "subjects") - n(x, "subjects") || n(y, "series") - n(x, "series") || (a < b ? -1 : a > b ? 1 : 0));
}

export function withFilter(state, name, values) {
  const filters = { ...state.filters };
  if (values === null || (Array.isArray(values) && !values.length)) delete filters[name];
  else filters[name] = values;
  return { ...state, filters };
}

// --- age buckets <-> age range -------------------------------------------------------------

/** "60-69" → {lo: 60, hi: 69.99}; "100+" → {lo: 100, hi: Infinity}. */
export function bucketBounds(label) {
  const lo = Number.parseInt(label, 10);
  return { lo, hi: label.endsWith("+") ? Infinity : round2(lo + AGE_TOP) };
}

const round2 = (x) => Math.round(x * 100) / 100;

/** Is the whole bucket inside the range? (a ticked bucket box) */
export function bucketCovered(label, range) {
  if (!range || typeof range.gte === "string" || typeof range.lte === "string") return false;
  const { lo, hi } = bucketBounds(label);
  return (range.gte ?? -Infinity) <= lo && (range.lte ?? Infinity) >= hi;
}

/** The age range after ticking (hull of range and bucket) or unticking (the range shrunk
 * from the edge the bucket sits at; a middle bucket cuts off the part above it). Returns
 * null for "no age filter". */
export function toggleBucket(label, range, checked) {
  const { lo, hi } = bucketBounds(label);
  const valid = range && typeof range.gte !== "string" && typeof range.lte !== "string";
  const r = valid ? range : null;
  const open = (x) => (x === Infinity || x === -Infinity || x === undefined ? undefined : x);
  if (checked) {
    if (!r) return clean({ gte: lo, lte: open(hi) });
    const gte = r.gte === undefined ? undefined : Math.min(r.gte, lo);
    const lte = r.lte === undefined || hi === Infinity ? undefined : Math.max(r.lte, hi);
    return clean({ gte, lte });
  }
  if (!r) return null;
  const effLo = r.gte ?? 0, effHi = r.lte ?? Infinity;
  if (effLo >= lo && effLo <= hi) {   // the bucket is the bottom of the range
    const gte = lo + AGE_STEP;
    return hi === Infinity || gte > effHi ? null : clean({ gte, lte: r.lte });
  }
  const lte = round2(lo - AGE_STEP + AGE_TOP);   // top of the bucket below
  return lte < (r.gte ?? 0) ? null : clean({ gte: r.gte, lte });
}

function clean(r) {
  const out = {};
  if (r.gte !== undefined && r.gte > 0) out.gte = r.gte;
  if (r.lte !== undefined) out.lte = r.lte;
  if (r.gte === 0 && r.lte === undefined) out.gte = 0;
  return Object.keys(out).length ? out : null;
}
