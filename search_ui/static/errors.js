// The API's 422 details ({field, problem}) in words a person uses. One place, pure: the page
// shows these sentences; the API's own wording stays behind a "what the server said" fold.
//
//   plainProblems([{field: "filters", problem: "filter 'age': inverted range: gte 80.0 > lte 60.0"}],
//                 {label: (name) => "Age at imaging (years)"})
//   → [{field: "age", text: "Age at imaging (years): from 80 is after to 60"}]
//
// A problem no rule knows keeps the API's text, with the field's label in front.
import { ApiError } from "./api.js";

const q = (v) => `“${v}”`;
const num = (text) => (Number.isFinite(Number(text)) ? String(Number(text)) : text);
const BOUND = { gte: "from", lte: "to", gt: "above", lt: "below" };

/** What was typed for a range bound, when the state has it as text (not a number). */
function typed(state, name, bound) {
  const v = state?.filters?.[name];
  const ranges = Array.isArray(v) ? v.filter((r) => r && typeof r === "object") : [v];
  const hit = ranges.find((r) => r && typeof r[bound] === "string");
  return hit ? hit[bound] : null;
}

// [pattern on the problem after "filter 'NAME'[:]", sentence(match, ctx)]; first match wins.
const FILTER_RULES = [
  [/^inverted range: gte (\S+) > lte (\S+)/, (m) => `from ${num(m[1])} is after to ${num(m[2])}`],
  [/valid number.*\((gte|lte|gt|lt)\)/, (m, c) => {
    const t = typed(c.state, c.name, m[1]);
    return t === null ? `the “${BOUND[m[1]]}” value is not a number`
      : `${BOUND[m[1]]} ${q(t)} is not a number`;
  }],
  [/finite number.*\((gte|lte|gt|lt)\)/, (m) => `the “${BOUND[m[1]]}” value is too large`],
  [/needs 'gte', 'lte' or both/, () => "give a “from” or a “to” value"],
  [/takes '(gte|lte)' or '(gt|lt)', not both/, () => "give one lower and one upper bound"],
  [/Extra inputs are not permitted \((.*)\)/, (m) => `a range has only “from” and “to”, not ${q(m[1])}`],
  [/takes true or false, got '(.*)'/, (m) => `${q(m[1])} is not one of its choices`],
  [/takes (finite )?numbers, got '?(.*?)'?$/, (m) => `${q(m[2])} is not a number`],
  [/NaN is not a value/, () => "“NaN” is not a number"],
  [/takes a list of values, not a range/, () => "pick values from its list; it has no from–to range"],
  [/takes (a )?ranges?\b/, () => "give a from–to range, not single values"],
  [/takes a list/, () => "pick values from its list"],
  [/has an empty value list/, () => "no value was chosen"],
  [/more than (\d+) values/, (m) => `at most ${m[1]} values can be chosen at once`],
  [/more than (\d+) ranges/, (m) => `at most ${m[1]} ranges can be combined`],
  [/values must be strings \(≤(\d+) chars\)/, (m) => `a value is too long (at most ${m[1]} characters)`],
];

const FIELD_RULES = {
  text: [[/at most (\d+) characters/, (m, c) => `Search text: at most ${m[1]} characters`
    + (c.state?.text ? ` (this one has ${c.state.text.length})` : "")]],
  sort: [[/cannot sort by '(.*?)'/, (m) => `Sort: ${q(m[1])} is not an order this index offers`]],
  "page.size": [[/less than or equal to (\d+)/, (m) => `At most ${m[1]} results per page`]],
  facets: [[/unknown facet '(.*?)'/, (m) => `The server has no filter ${q(m[1])}; reload the page`]],
};

/** One API detail as {field, text}: `field` is the filter's name when the problem is about
 * a filter (so the page can mark its inputs), else the API's field. */
export function plainProblem(detail, { label = (n) => n, state = null } = {}) {
  const problem = String(detail.problem || "").trim();
  const unknown = problem.match(/^unknown filter field '(.*?)'/);
  if (unknown) return { field: unknown[1], text: `${q(unknown[1])} is not a filter this index has` };
  const f = problem.match(/^filter '(.*?)'[:]?\s*(.*)$/s);
  if (f) {
    const [, name, rest] = f;
    for (const [re, say] of FILTER_RULES) {
      const m = rest.match(re);
      if (m) return { field: name, text: `${label(name)}: ${say(m, { state, name })}` };
    }
    return { field: name, text: `${label(name)}: ${rest}` };
  }
  for (const [re, say] of FIELD_RULES[detail.field] || []) {
    const m = problem.match(re);
    if (m) return { field: detail.field, text: say(m, { state }) };
  }
  return { field: detail.field ?? null, text: detail.field ? `${detail.field}: ${problem}` : problem };
}

/** Every detail of an API error body in plain words (duplicates dropped). */
export function plainProblems(details, options = {}) {
  const seen = new Set();
  return (details || []).map((d) => plainProblem(d, options))
    .filter((p) => !seen.has(p.text) && seen.add(p.text));
}

/** The alert's first sentence for any failure (`problems`: plainProblems of a 422). */
export function describe(err, problems) {
  if (!(err instanceof ApiError)) return `The page could not show this answer (${err.message}); please report it.`;
  if (err.status === 0) return err.message;
  if (err.status === 409) return `The index was replaced while you browsed: ${err.message}`;
  if (err.status === 503) return `The index is not available: ${err.message}`;
  if (err.status >= 500) return `The server failed (HTTP ${err.status}): ${err.message}`;
  if (problems.length === 1) return `This search could not run. ${problems[0].text}.`;
  if (problems.length) return "This search could not run:";
  return `This search could not run: ${err.message}`;
}
