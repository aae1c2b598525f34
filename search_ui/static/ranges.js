// Range filters and age decades, pure. A range field's filter is a list of items, OR'ed: range
// objects {gte, lte} (either bound optional) and null ("not recorded"), exactly what the API
// takes: "age": [{"gte": 60, "lte": 69.99}, {"gte": 80, "lte": 89.99}, null].
//
// Decade buckets select exactly what was ticked: ticking 60-69 then 80-89 gives two ranges
// (not 60-89), unticking 70-79 out of 60-89 leaves 60-69 and 80-89. Adjacent ranges merge,
// so ticking 60-69, 70-79 and 80-89 reads "60..89.99" in the URL.

/** URL value and checkbox value of "not recorded" (the API's null). */
export const NONE = "(none)";

const AGE_STEP = 10;       // the API's age facet buckets are decades: "0-9" ... "90-99", "100+"
const AGE_TOP = 9.99;      // a bucket "60-69" holds 60 <= age < 70; ages are stored to 4
                           // decimals from D/W/M/Y units, none falls in (69.99, 70)
const GAP = 0.01;          // between one bucket's top and the next bucket's bottom
const round2 = (x) => Math.round(x * 100) / 100;

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

/** A filter item as the URL writes it: a value, a range "LO..HI", or NONE for null. */
export function itemKey(item) {
  if (item === null) return NONE;
  return typeof item === "object" ? formatRange(item) : String(item);
}

const numeric = (r) => r && typeof r === "object" && typeof r.gte !== "string"
  && typeof r.lte !== "string";

/** The usable ranges of a range filter (a list, or one range object from older callers). */
export function rangesOf(filter) {
  const items = Array.isArray(filter) ? filter : filter ? [filter] : [];
  return items.filter(numeric);
}

/** "60-69" → {lo: 60, hi: 69.99}; "100+" → {lo: 100, hi: Infinity}. */
export function bucketBounds(label) {
  const lo = Number.parseInt(label, 10);
  return { lo, hi: label.endsWith("+") ? Infinity : round2(lo + AGE_TOP) };
}

const lowOf = (r) => r.gte ?? -Infinity;
const highOf = (r) => r.lte ?? Infinity;

/** Is the whole bucket inside one of the filter's ranges? (a ticked bucket box) */
export function bucketCovered(label, filter) {
  const { lo, hi } = bucketBounds(label);
  return rangesOf(filter).some((r) => lowOf(r) <= lo && highOf(r) >= hi);
}

/** Does the bucket overlap a range of the filter at all? */
export function bucketTouched(label, filter) {
  const { lo, hi } = bucketBounds(label);
  return rangesOf(filter).some((r) => lowOf(r) <= hi && highOf(r) >= lo);
}

/** The range filter after ticking (the bucket added) or unticking (the bucket cut out) an
 * age decade; null (never listed) stays as it was. Returns null for "no filter". */
export function toggleBucket(label, filter, checked) {
  const { lo, hi } = bucketBounds(label);
  const missing = Array.isArray(filter) && filter.includes(null) ? [null] : [];
  let ranges = rangesOf(filter);
  if (checked) ranges = [...ranges, { gte: lo, lte: hi === Infinity ? undefined : hi }];
  else ranges = ranges.flatMap((r) => cut(r, lo, hi));
  const out = [...merge(ranges).map(clean).filter(Boolean), ...missing];
  return out.length ? out : null;
}

/** A range with [lo, hi] taken out: zero, one or two ranges. */
function cut(r, lo, hi) {
  if (highOf(r) < lo || lowOf(r) > hi) return [r];
  const out = [];
  if ((r.gte ?? 0) < lo) out.push({ gte: r.gte, lte: round2(lo - GAP) });  // ages are >= 0
  if (highOf(r) > hi) out.push({ gte: round2(hi + GAP), lte: r.lte });
  return out;
}

/** Ranges sorted, overlapping or adjacent ones (a bucket's top and the next one's bottom)
 * joined. */
function merge(ranges) {
  const out = [];
  for (const r of [...ranges].sort((a, b) => lowOf(a) - lowOf(b))) {
    const last = out[out.length - 1];
    if (last && lowOf(r) <= highOf(last) + GAP + 1e-9) {
      if (highOf(r) > highOf(last)) last.lte = r.lte;
    } else {
      out.push({ gte: r.gte, lte: r.lte });
    }
  }
  return out;
}

function clean(r) {
  const out = {};
  if (r.gte !== undefined && r.gte !== -Infinity && r.gte > 0) out.gte = r.gte;
  if (r.lte !== undefined && r.lte !== Infinity) out.lte = r.lte;
  if (r.gte === 0 && out.lte === undefined) out.gte = 0;
  return Object.keys(out).length ? out : null;
}
