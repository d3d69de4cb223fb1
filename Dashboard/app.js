// Trainyard dashboard: plain JS over the public API only (SageMaker JSON 1.1, CloudWatch Logs
// JSON 1.1, CloudWatch JSON 1.0), signed with SigV4 when the server asks for it.
"use strict";

const $ = (id) => document.getElementById(id);
const TERMINAL = new Set(["Completed", "Failed", "Stopped"]);
const LOG_GROUP = "/aws/sagemaker/TrainingJobs";
const SERVICES = {
  sagemaker: { prefix: "SageMaker.", version: "1.1", signing: "sagemaker" },
  logs: { prefix: "Logs_20140328.", version: "1.1", signing: "logs" },
  cloudwatch: { prefix: "GraniteServiceVersion20100801.", version: "1.0", signing: "monitoring" },
};

let credentials = JSON.parse(sessionStorage.getItem("trainyard.credentials") || "null");
let timers = [];
let charts = [];

class APIError extends Error {
  constructor(code, message, status) { super(message); this.code = code; this.status = status; }
}

async function call(service, operation, input = {}) {
  const spec = SERVICES[service];
  const body = JSON.stringify(input);
  let headers = { "Content-Type": `application/x-amz-json-${spec.version}`, "X-Amz-Target": spec.prefix + operation };
  if (credentials) {
    headers = await SigV4.sign({ method: "POST", path: "/", headers, body, credentials, service: spec.signing });
  }
  const response = await fetch("/", { method: "POST", headers, body });
  const text = await response.text();
  const json = text ? JSON.parse(text) : {};
  if (!response.ok) {
    const type = (response.headers.get("x-amzn-query-error") || "").split(";")[0] || String(json.__type || response.status).split("#").pop();
    throw new APIError(type, json.message || json.Message || "", response.status);
  }
  return json;
}

const AUTH_ERRORS = new Set(["MissingAuthenticationTokenException", "UnrecognizedClientException",
  "InvalidSignatureException", "IncompleteSignatureException", "SignatureDoesNotMatch"]);

function showError(element, error) {
  element.textContent = error ? (error.code ? `${error.code}: ${error.message}` : String(error)) : "";
}

function clearTimers() {
  timers.forEach(clearTimeout);
  timers = [];
}

// Polls `tick` every `ms` while the page is visible; a tick returning false ends the loop.
function every(ms, tick) {
  const loop = async () => {
    let again = true;
    if (!document.hidden) {
      try { again = (await tick()) !== false; } catch (e) { console.warn(e); }
    }
    if (again) timers.push(setTimeout(loop, ms));
  };
  timers.push(setTimeout(loop, ms));
}

const fmtTime = (seconds) => seconds == null ? "" : new Date(seconds * 1000).toLocaleString();
function fmtDuration(seconds) {
  if (seconds == null || seconds < 0) return "";
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

// MARK: routing

function route() {
  clearTimers();
  charts.forEach((c) => c.destroy());
  charts = [];
  for (const id of ["login", "list", "job"]) $(id).hidden = true;
  const match = location.hash.match(/^#\/jobs\/(.+)$/);
  if (match) showJob(decodeURIComponent(match[1])); else showList();
}

function start() {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", () => {
    sessionStorage.removeItem("trainyard.credentials");
    credentials = null;
    showLogin(null);
  });
  window.addEventListener("hashchange", route);
  setUpList();
  setUpJob();
  $("account").textContent = credentials ? credentials.accessKeyId : "";
  $("logout").hidden = !credentials;
  // The page's first API call tells whether the server wants signatures (--auth sigv4): an
  // unsigned request then gets MissingAuthenticationTokenException, and the sign-in form shows.
  route();
}

// True (and the sign-in form shown) when `error` says the request was not accepted as signed.
function needsLogin(error) {
  if (!AUTH_ERRORS.has(error.code)) return false;
  showLogin(credentials && error.code !== "MissingAuthenticationTokenException" ? error : null);
  return true;
}

function showLogin(error) {
  clearTimers();
  credentials = null;
  sessionStorage.removeItem("trainyard.credentials");
  for (const id of ["list", "job"]) $(id).hidden = true;
  $("login").hidden = false;
  $("logout").hidden = true;
  $("account").textContent = "";
  showError($("login-error"), error);
}

async function login(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const candidate = { accessKeyId: form.get("accessKeyId").trim(), secretAccessKey: form.get("secretAccessKey"), region: form.get("region").trim() };
  showError($("login-error"), null);
  if (!window.crypto || !crypto.subtle) {
    $("login-error").textContent = "This browser offers no WebCrypto here: open the dashboard over https or on localhost.";
    return;
  }
  const previous = credentials;
  credentials = candidate;
  try {
    await call("sagemaker", "ListTrainingJobs", { MaxResults: 1 });
    sessionStorage.setItem("trainyard.credentials", JSON.stringify(candidate));
    $("login").hidden = true;
    $("account").textContent = candidate.accessKeyId;
    $("logout").hidden = false;
    route();
  } catch (error) {
    credentials = previous;
    showError($("login-error"), error);
  }
}

// MARK: job list

const listState = { tokens: [null], page: 0 };

function setUpList() {
  let debounce;
  const reset = () => { listState.tokens = [null]; listState.page = 0; loadList(); };
  $("name-filter").addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(reset, 250); });
  $("status-filter").addEventListener("change", reset);
  $("sort").addEventListener("change", reset);
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); reset(); });
  $("next").addEventListener("click", () => { listState.page += 1; loadList(); });
  $("prev").addEventListener("click", () => { listState.page = Math.max(0, listState.page - 1); loadList(); });
}

function showList() {
  $("list").hidden = false;
  loadList().then((shown) => {
    if (!shown) return;
    performance.mark("list-rendered");
    every(2000, async () => { if ($("live").checked) await loadList(); });
  });
}

function listRequest() {
  const [sortBy, sortOrder] = $("sort").value.split("/");
  const request = { MaxResults: 100, SortBy: sortBy, SortOrder: sortOrder };
  const name = $("name-filter").value.trim();
  if (name) request.NameContains = name;
  if ($("status-filter").value) request.StatusEquals = $("status-filter").value;
  const token = listState.tokens[listState.page];
  if (token) request.NextToken = token;
  return request;
}

async function loadList() {
  let result;
  try {
    result = await call("sagemaker", "ListTrainingJobs", listRequest());
    showError($("list-error"), null);
  } catch (error) {
    if (!needsLogin(error)) showError($("list-error"), error);
    return false;
  }
  listState.tokens[listState.page + 1] = result.NextToken || null;
  listState.tokens.length = listState.page + 2;
  const rows = document.createDocumentFragment();
  const now = Date.now() / 1000;
  for (const job of result.TrainingJobSummaries) {
    const link = el("a", { href: `#/jobs/${encodeURIComponent(job.TrainingJobName)}`, text: job.TrainingJobName });
    const end = job.TrainingEndTime || (TERMINAL.has(job.TrainingJobStatus) ? job.LastModifiedTime : now);
    rows.append(el("tr", { "data-job": job.TrainingJobName },
      el("td", {}, link),
      el("td", {}, el("span", { class: `badge s-${job.TrainingJobStatus}`, text: job.TrainingJobStatus })),
      el("td", { class: "hide-narrow", text: job.SecondaryStatus || "" }),
      el("td", { text: fmtTime(job.CreationTime) }),
      el("td", { class: "hide-narrow", text: fmtDuration(end - job.CreationTime) })));
  }
  if (!result.TrainingJobSummaries.length) rows.append(el("tr", {}, el("td", { colspan: "5", class: "muted", text: "No training jobs." })));
  $("jobs").tBodies[0].replaceChildren(rows);
  $("prev").disabled = listState.page === 0;
  $("next").disabled = !result.NextToken;
  $("page-label").textContent = `Page ${listState.page + 1}`;
  return true;
}

// MARK: job page

const jobState = {};

function setUpJob() {
  $("stop").addEventListener("click", async () => {
    if (!confirm(`Stop training job ${jobState.name}? SageMaker sends SIGTERM, then SIGKILL after the grace period.`)) return;
    try {
      await call("sagemaker", "StopTrainingJob", { TrainingJobName: jobState.name });
      await refreshJob();
    } catch (error) { showError($("job-error"), error); }
  });
  $("clone").addEventListener("click", openClone);
  $("clone-submit").addEventListener("click", submitClone);
  $("older").addEventListener("click", loadOlderLines);
  let debounce;
  $("log-search").addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(searchLog, 300); });
}

async function showJob(name) {
  Object.assign(jobState, { name, job: null, streams: [], forward: {}, backward: {}, lines: 0, metricsKey: "" });
  $("job").hidden = false;
  $("job-name").textContent = name;
  $("log").textContent = "";
  $("log-search").value = "";
  $("job-error").textContent = "";
  $("charts").replaceChildren(el("p", { class: "muted", text: "No MetricDefinitions." }));
  // The description and the log's streams are asked for at once (one round trip less).
  const streams = logStreams().catch((error) => error);
  try {
    await refreshJob();
  } catch (error) {
    if (!needsLogin(error)) showError($("job-error"), error);
    return;
  }
  await loadLog(await streams);
  performance.mark("job-rendered");
  await refreshCharts();
  every(1000, async () => {
    const wasRunning = !TERMINAL.has(jobState.job.TrainingJobStatus);
    await refreshJob();
    if ($("follow").checked && !$("log-search").value) await followLog();
    if (wasRunning) await refreshCharts();
  });
}

async function refreshJob() {
  const job = await call("sagemaker", "DescribeTrainingJob", { TrainingJobName: jobState.name });
  jobState.job = job;
  const badge = $("job-status");
  badge.textContent = job.SecondaryStatus && job.SecondaryStatus !== job.TrainingJobStatus
    ? `${job.TrainingJobStatus} · ${job.SecondaryStatus}` : job.TrainingJobStatus;
  badge.className = `badge s-${job.TrainingJobStatus}`;
  $("stop").hidden = job.TrainingJobStatus !== "InProgress";
  $("failure").textContent = job.FailureReason || "";
  $("timeline").replaceChildren(...(job.SecondaryStatusTransitions || []).map((t) => el("li", {},
    el("strong", { text: t.Status }), " ",
    el("span", { class: "when", text: `${fmtTime(t.StartTime)}${t.EndTime ? " – " + fmtDuration(t.EndTime - t.StartTime) : " (now)"}` }),
    el("div", { text: t.StatusMessage || "" }))));
  const hp = Object.entries(job.HyperParameters || {});
  $("hyperparameters").replaceChildren(...(hp.length ? hp.map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { text: v })))
    : [el("tr", {}, el("td", { class: "muted", text: "None" }))]));
  $("channels").replaceChildren(...(job.InputDataConfig || []).map((c) => {
    const source = c.DataSource?.S3DataSource?.S3Uri || c.DataSource?.FileSystemDataSource?.DirectoryPath || "";
    return el("details", {}, el("summary", { text: `${c.ChannelName} — ${source}` }), el("pre", { class: "json", text: JSON.stringify(c, null, 2) }));
  }));
  if (!job.InputDataConfig?.length) $("channels").replaceChildren(el("p", { class: "muted", text: "No input channels." }));
  await renderArtifacts(job);
  $("describe").replaceChildren(describeTable(job));
}

function describeTable(job) {
  const table = el("table", { class: "kv" });
  for (const [key, value] of Object.entries(job).sort(([a], [b]) => a.localeCompare(b))) {
    if (key === "ResponseMetadata") continue;
    let cell;
    if (value !== null && typeof value === "object") cell = el("td", {}, el("pre", { class: "json", text: JSON.stringify(value, null, 2) }));
    else cell = el("td", { text: /Time$/.test(key) && typeof value === "number" ? `${fmtTime(value)} (${value})` : String(value) });
    table.append(el("tr", {}, el("td", { text: key }), cell));
  }
  return table;
}

// Artifacts are S3 objects; Trainyard's S3 API serves them path-style at /<bucket>/<key> (signed
// with a presigned URL when the server checks signatures).
async function renderArtifacts(job) {
  const key = JSON.stringify([job.ModelArtifacts, job.OutputDataConfig, job.TrainingJobStatus, !!credentials]);
  if (jobState.artifactsKey === key) return;
  jobState.artifactsKey = key;
  const uris = [];
  if (job.ModelArtifacts?.S3ModelArtifacts) uris.push(["Model", job.ModelArtifacts.S3ModelArtifacts]);
  const out = job.OutputDataConfig?.S3OutputPath;
  if (out && TERMINAL.has(job.TrainingJobStatus)) uris.push(["Output data", `${out.replace(/\/$/, "")}/${job.TrainingJobName}/output/output.tar.gz`]);
  const items = [];
  for (const [label, uri] of uris) {
    const m = uri.match(/^s3:\/\/([^/]+)\/(.*)$/);
    if (!m) { items.push(el("li", { text: `${label}: ${uri}` })); continue; }
    const path = `/${m[1]}/${m[2]}`;
    const href = credentials ? await SigV4.presign({ path, credentials }) : SigV4.uriEncode(path, true);
    items.push(el("li", {}, `${label}: `, el("a", { href, download: "", text: uri })));
  }
  $("artifacts").replaceChildren(...(items.length ? items : [el("li", { class: "muted", text: "None yet." })]));
}

// MARK: logs

async function logStreams() {
  const result = await call("logs", "DescribeLogStreams", { logGroupName: LOG_GROUP, logStreamNamePrefix: jobState.name + "/" });
  // The prefix also matches "<name>x/…" of no other job: names hold no "/".
  return result.logStreams.map((s) => s.logStreamName);
}

const LOG_PAGE = 1000;

// The newest lines of each stream (a long log is not read whole: older pages load on demand).
async function loadLog(known) {
  try {
    if (known instanceof Error) throw known;
    jobState.streams = known || await logStreams();
  } catch (error) {
    if (error.code !== "ResourceNotFoundException") showError($("job-error"), error);
    jobState.streams = [];
  }
  const chunks = [];
  for (const stream of jobState.streams) {
    const page = await call("logs", "GetLogEvents", { logGroupName: LOG_GROUP, logStreamName: stream, startFromHead: false, limit: LOG_PAGE });
    jobState.forward[stream] = page.nextForwardToken;
    jobState.backward[stream] = page.events.length ? page.nextBackwardToken : null;
    chunks.push(...page.events);
  }
  appendLines(chunks, false);
  $("older").hidden = !Object.values(jobState.backward).some(Boolean);
}

function appendLines(events, atTop) {
  if (!events.length) return;
  const text = events.map((e) => e.message).join("\n") + "\n";
  const log = $("log");
  const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  if (atTop) log.prepend(document.createTextNode(text)); else log.append(document.createTextNode(text));
  jobState.lines += events.length;
  $("log-count").textContent = `${jobState.lines} lines`;
  if (!atTop && (stick || $("follow").checked)) log.scrollTop = log.scrollHeight;
}

async function followLog() {
  if (!jobState.streams.length) {
    if (TERMINAL.has(jobState.job.TrainingJobStatus) && jobState.streamsChecked) return;
    jobState.streamsChecked = true;
    return loadLog();
  }
  for (const stream of jobState.streams) {
    for (let i = 0; i < 10; i++) {
      const page = await call("logs", "GetLogEvents", {
        logGroupName: LOG_GROUP, logStreamName: stream, startFromHead: true, nextToken: jobState.forward[stream], limit: 10000 });
      jobState.forward[stream] = page.nextForwardToken;
      appendLines(page.events, false);
      if (!page.events.length) break;
    }
  }
}

async function loadOlderLines() {
  const chunks = [];
  for (const stream of jobState.streams) {
    if (!jobState.backward[stream]) continue;
    const page = await call("logs", "GetLogEvents", {
      logGroupName: LOG_GROUP, logStreamName: stream, startFromHead: false, nextToken: jobState.backward[stream], limit: LOG_PAGE });
    jobState.backward[stream] = page.events.length ? page.nextBackwardToken : null;
    chunks.push(...page.events);
  }
  appendLines(chunks, true);
  $("older").hidden = !Object.values(jobState.backward).some(Boolean);
}

// Search runs on the server (FilterLogEvents' filter pattern: terms and "quoted phrases").
async function searchLog() {
  const pattern = $("log-search").value.trim();
  const log = $("log");
  if (!pattern) {
    log.textContent = "";
    jobState.lines = 0;
    return loadLog();
  }
  try {
    const result = await call("logs", "FilterLogEvents", {
      logGroupName: LOG_GROUP, logStreamNamePrefix: jobState.name + "/", filterPattern: pattern, limit: 1000 });
    const terms = (pattern.match(/"[^"]+"|\S+/g) || []).map((t) => t.replace(/^"|"$/g, ""));
    const fragment = document.createDocumentFragment();
    for (const event of result.events) fragment.append(...highlight(event.message, terms), "\n");
    log.replaceChildren(fragment);
    $("log-count").textContent = `${result.events.length} matching lines${result.nextToken ? " (first 1000)" : ""}`;
  } catch (error) { showError($("job-error"), error); }
}

function highlight(text, terms) {
  const nodes = [];
  let rest = text;
  while (rest) {
    let best = -1, term = "";
    for (const t of terms) { const i = rest.indexOf(t); if (i >= 0 && (best < 0 || i < best)) { best = i; term = t; } }
    if (best < 0 || !term) { nodes.push(rest); break; }
    nodes.push(rest.slice(0, best), el("mark", { text: term }));
    rest = rest.slice(best + term.length);
  }
  return nodes;
}

// MARK: metric charts (Chart.js from Debian's libjs-chart.js)

// Loaded on the first job page that has metrics, after its log: the list never waits for it.
let chartLibrary;
function loadChartLibrary() {
  chartLibrary = chartLibrary || new Promise((resolve) => {
    const script = el("script", { src: "/_dashboard/chart.min.js" });
    script.onload = () => resolve(true);
    script.onerror = () => resolve(false);
    document.head.append(script);
  });
  return chartLibrary;
}

function chartPeriod(seconds) {
  for (const p of [1, 5, 10, 20, 30, 60, 300, 900, 3600]) if (seconds / p <= 1000) return p;
  return 3600 * Math.ceil(seconds / 3600 / 1000);
}

async function refreshCharts() {
  const job = jobState.job;
  const definitions = job.AlgorithmSpecification?.MetricDefinitions || [];
  if (!definitions.length) return;
  if (!(await loadChartLibrary())) {
    $("charts").replaceChildren(el("p", { class: "muted", text: "Charts need Debian's libjs-chart.js on the server." }));
    return;
  }
  const start = job.TrainingStartTime || job.CreationTime;
  const end = (job.TrainingEndTime || Date.now() / 1000) + 60;
  const period = chartPeriod(end - start);
  const queries = definitions.map((d, i) => ({
    Id: `m${i}`, Label: d.Name, ReturnData: true,
    MetricStat: { Metric: { Namespace: LOG_GROUP, MetricName: d.Name, Dimensions: [{ Name: "TrainingJobName", Value: job.TrainingJobName }] }, Period: period, Stat: "Average" },
  }));
  const result = await call("cloudwatch", "GetMetricData", { MetricDataQueries: queries, StartTime: Math.floor(start) - 1, EndTime: Math.ceil(end), ScanBy: "TimestampAscending" });
  const key = definitions.map((d) => d.Name).join("\u0000");
  if (jobState.metricsKey !== key) {
    jobState.metricsKey = key;
    charts.forEach((c) => c.destroy());
    charts = [];
    const holders = definitions.map((d) => el("div", { class: "chart", "data-metric": d.Name }, el("canvas", { "aria-label": `Chart of ${d.Name}` })));
    $("charts").replaceChildren(...holders);
    const dark = matchMedia("(prefers-color-scheme: dark)").matches;
    const color = dark ? "#e6e8eb" : "#1d1f23", grid = dark ? "#30353c" : "#dfe2e6";
    charts = holders.map((holder, i) => new Chart(holder.firstChild, {
      type: "line",
      data: { datasets: [{ label: definitions[i].Name, data: [], borderColor: "#5b9dff", backgroundColor: "#5b9dff", pointRadius: 2, tension: 0.1 }] },
      options: {
        animation: false, maintainAspectRatio: false, parsing: false,
        plugins: { legend: { labels: { color } } },
        scales: {
          x: { type: "linear", title: { display: true, text: "seconds since training started", color }, ticks: { color }, grid: { color: grid } },
          y: { ticks: { color }, grid: { color: grid } },
        },
      },
    }));
  }
  // Lines printed before the Training transition was recorded would sit left of zero.
  const origin = Math.min(start, ...result.MetricDataResults.flatMap((r) => r.Timestamps.slice(0, 1)));
  result.MetricDataResults.forEach((r, i) => {
    const chart = charts[i];
    if (!chart) return;
    chart.data.datasets[0].data = r.Timestamps.map((t, j) => ({ x: t - origin, y: r.Values[j] }));
    chart.canvas.parentNode.dataset.points = String(r.Timestamps.length);
    chart.update("none");
  });
}

// MARK: clone

// CreateTrainingJob's members, as DescribeTrainingJob echoes them (botocore sagemaker model).
const CREATE_MEMBERS = ["TrainingJobName", "HyperParameters", "AlgorithmSpecification", "RoleArn", "InputDataConfig",
  "OutputDataConfig", "ResourceConfig", "VpcConfig", "StoppingCondition", "EnableNetworkIsolation",
  "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining", "CheckpointConfig", "DebugHookConfig",
  "DebugRuleConfigurations", "TensorBoardOutputConfig", "ExperimentConfig", "ProfilerConfig", "ProfilerRuleConfigurations",
  "Environment", "RetryStrategy", "RemoteDebugConfig", "InfraCheckConfig", "SessionChainingConfig"];

function openClone() {
  const job = jobState.job;
  const request = {};
  for (const key of CREATE_MEMBERS) if (job[key] !== undefined) request[key] = job[key];
  request.TrainingJobName = `${job.TrainingJobName.slice(0, 48)}-clone-${Date.now().toString(36)}`.slice(0, 63);
  $("clone-json").value = JSON.stringify(request, null, 2);
  $("clone-error").textContent = "";
  $("clone-dialog").showModal();
}

async function submitClone(event) {
  event.preventDefault();
  let request;
  try { request = JSON.parse($("clone-json").value); } catch (error) {
    $("clone-error").textContent = `Not valid JSON: ${error.message}`;
    return;
  }
  try {
    await call("sagemaker", "CreateTrainingJob", request);
    $("clone-dialog").close();
    location.hash = `#/jobs/${encodeURIComponent(request.TrainingJobName)}`;
  } catch (error) { showError($("clone-error"), error); }
}

document.addEventListener("DOMContentLoaded", start);
