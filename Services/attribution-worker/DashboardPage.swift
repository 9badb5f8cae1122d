import Foundation

/// The HTML of `GET /dashboard`: calls and revenue by campaign per day, drawn in the browser from the campaign
/// report API.
///
/// Everything the page needs is inline, so it loads nothing from another origin. Values from the API reach the
/// DOM only through `textContent` and `setAttribute`, never as markup.
enum DashboardPage {
    /// The placeholder that `html(nonce:)` replaces in the template.
    private static let noncePlaceholder = "{{nonce}}"

    /// Returns the page with `nonce` on its `<style>` and `<script>` elements.
    ///
    /// `nonce` must be Base64 text, as the CSP `nonce-source` grammar requires, so it needs no HTML escaping.
    static func html(nonce: String) -> String {
        template.replacing(noncePlaceholder, with: nonce)
    }

    /// Returns the Content-Security-Policy for the page served with `nonce`.
    ///
    /// Only the inline script and style that carry the nonce run, and `fetch` reaches this origin only. The favicon
    /// is an empty `data:` image. The key form cannot be submitted to any URL, so the key stays out of query strings.
    static func contentSecurityPolicy(nonce: String) -> String {
        [
            "default-src 'none'",
            "script-src 'nonce-\(nonce)'",
            "style-src 'nonce-\(nonce)'",
            "connect-src 'self'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ].joined(separator: "; ")
    }

    private static let template = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="no-referrer">
        <title>Ringtrail · Calls and revenue by campaign</title>
        <link rel="icon" href="data:,">
        <style nonce="{{nonce}}">
        :root {
            --ink: #1d2430; --muted: #5b6573; --line: #d9dee5; --panel: #ffffff; --page: #f3f5f8;
            --calls: #3a6ea5; --unattributed: #a9bdd6; --revenue: #d0742c; --error: #a4262c;
        }
        * { box-sizing: border-box; }
        body {
            margin: 0; padding: 24px 32px 40px; background: var(--page); color: var(--ink);
            font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
        }
        header h1 { margin: 0; font-size: 22px; font-weight: 600; }
        header p { margin: 4px 0 16px; color: var(--muted); }
        form {
            display: flex; flex-wrap: wrap; gap: 12px 16px; align-items: flex-end; padding: 14px 16px;
            background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
        }
        label { display: flex; flex-direction: column; gap: 4px; font-size: 12px; color: var(--muted); }
        input { font: inherit; color: var(--ink); padding: 6px 8px; border: 1px solid var(--line); border-radius: 6px; }
        input#key { width: 22em; }
        button {
            font: inherit; padding: 7px 14px; border-radius: 6px; border: 1px solid var(--calls);
            background: var(--calls); color: #fff; cursor: pointer;
        }
        button.secondary { background: var(--panel); color: var(--calls); }
        #error {
            margin: 16px 0 0; padding: 10px 14px; border: 1px solid var(--error); border-radius: 6px;
            background: #fdf0f0; color: var(--error); font-weight: 600;
        }
        #status { margin: 12px 0 0; color: var(--muted); min-height: 1.45em; }
        section {
            margin-top: 16px; padding: 14px 16px; background: var(--panel); border: 1px solid var(--line);
            border-radius: 8px;
        }
        section h2 { margin: 0 0 8px; font-size: 15px; font-weight: 600; }
        #chart { display: block; width: 100%; height: auto; }
        #chart .grid { stroke: var(--line); stroke-width: 1; }
        #chart .axis-label { fill: var(--muted); font-size: 12px; }
        #chart .bar { fill: var(--calls); }
        #chart .bar-unattributed { fill: var(--unattributed); }
        #chart .revenue-line { fill: none; stroke: var(--revenue); stroke-width: 2; }
        #chart .point { fill: var(--panel); stroke: var(--revenue); stroke-width: 2; }
        .legend { display: flex; flex-wrap: wrap; gap: 16px; margin: 6px 0 0; color: var(--muted); font-size: 12px; }
        .swatch { display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: -2px; }
        .swatch.calls { background: var(--calls); }
        .swatch.unattributed { background: var(--unattributed); }
        .swatch.revenue { background: var(--revenue); height: 3px; vertical-align: 3px; }
        table { width: 100%; border-collapse: collapse; }
        th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; }
        th { font-size: 12px; color: var(--muted); font-weight: 600; }
        .num { text-align: right; font-variant-numeric: tabular-nums; }
        tfoot td { font-weight: 600; border-bottom: none; }
        td.none { color: var(--muted); font-style: italic; }
        #unattributed { margin: 10px 0 0; color: var(--muted); }
        </style>
        </head>
        <body data-state="idle">
        <header>
        <h1>Calls and revenue by campaign</h1>
        <p>Ringtrail attribution report. Days are UTC days, and a call counts on the day it started.</p>
        </header>
        <form id="controls" autocomplete="off">
        <label>Read key
        <input id="key" type="password" autocomplete="off" spellcheck="false" placeholder="rt_…">
        </label>
        <label>From<input id="from" type="date" required></label>
        <label>To<input id="to" type="date" required></label>
        <button type="submit">Show</button>
        <button type="button" id="forget" class="secondary">Forget key</button>
        </form>
        <p id="error" role="alert" hidden></p>
        <p id="status" role="status"></p>
        <section>
        <h2>Calls and revenue per day</h2>
        <svg id="chart" viewBox="0 0 960 320" role="img" aria-label="Calls and revenue per day"></svg>
        <p class="legend">
        <span><span class="swatch calls"></span>Calls matched to a session</span>
        <span><span class="swatch unattributed"></span>Calls without a matched session</span>
        <span><span class="swatch revenue"></span><span id="revenue-legend">Revenue</span></span>
        </p>
        </section>
        <section>
        <h2>Campaigns</h2>
        <table id="campaigns">
        <thead><tr>
        <th>Source</th><th>Medium</th><th>Campaign</th>
        <th class="num">Sessions</th><th class="num">Calls</th><th class="num">Revenue</th>
        </tr></thead>
        <tbody></tbody>
        <tfoot></tfoot>
        </table>
        <p id="unattributed"></p>
        </section>
        <script nonce="{{nonce}}">
        "use strict";
        (() => {
            const DAY_MS = 86400000;
            const DEFAULT_DAYS = 7;
            const MAX_DAYS = 31;
            const PARALLEL_REQUESTS = 4;
            const STORAGE_KEY = "ringtrail.readKey";
            const SVG_NS = "http://www.w3.org/2000/svg";
            const integerFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
            const amountFormat = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
            const dayLabelFormat = new Intl.DateTimeFormat("en-US", {
                month: "short", day: "numeric", timeZone: "UTC",
            });

            const form = document.getElementById("controls");
            const keyInput = document.getElementById("key");
            const fromInput = document.getElementById("from");
            const toInput = document.getElementById("to");
            const forgetButton = document.getElementById("forget");
            const errorText = document.getElementById("error");
            const statusText = document.getElementById("status");
            const chart = document.getElementById("chart");
            const revenueLegend = document.getElementById("revenue-legend");
            const table = document.getElementById("campaigns");
            const tableBody = table.tBodies[0];
            const tableFoot = table.tFoot;
            const unattributedText = document.getElementById("unattributed");

            // The key when sessionStorage is unavailable, for example when the browser blocks storage.
            let memoryKey = null;
            // Incremented by every load, so the results of a superseded load are dropped.
            let loadNumber = 0;

            class ReportError extends Error {}

            function storedKey() {
                try {
                    return sessionStorage.getItem(STORAGE_KEY);
                } catch {
                    return memoryKey;
                }
            }

            function storeKey(key) {
                memoryKey = key;
                try {
                    if (key === null) {
                        sessionStorage.removeItem(STORAGE_KEY);
                    } else {
                        sessionStorage.setItem(STORAGE_KEY, key);
                    }
                } catch {
                    // memoryKey keeps the key for this page view.
                }
            }

            // Moves a `#key=…` fragment into sessionStorage and removes it from the address bar and history.
            function takeKeyFromFragment() {
                const fragment = new URLSearchParams(location.hash.slice(1));
                const key = fragment.get("key");
                if (key === null) {
                    return;
                }
                storeKey(key.trim());
                fragment.delete("key");
                const rest = fragment.toString();
                history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
            }

            function isoDay(milliseconds) {
                return new Date(milliseconds).toISOString().slice(0, 10);
            }

            // Returns the UTC midnight of a `yyyy-mm-dd` date, or null when the text is no such date.
            function parseDay(text) {
                if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) {
                    return null;
                }
                const milliseconds = Date.parse(text + "T00:00:00.000Z");
                return Number.isNaN(milliseconds) || isoDay(milliseconds) !== text ? null : milliseconds;
            }

            function count(value) {
                return typeof value === "number" && Number.isFinite(value) ? value : 0;
            }

            function revenueOf(row) {
                const revenue = {};
                if (row && row.revenue && typeof row.revenue === "object") {
                    for (const [currency, amount] of Object.entries(row.revenue)) {
                        revenue[currency] = count(amount);
                    }
                }
                return revenue;
            }

            function addRevenue(total, revenue) {
                for (const [currency, amount] of Object.entries(revenue)) {
                    total[currency] = (total[currency] || 0) + amount;
                }
            }

            // Formats revenue by currency as `USD 1,234.50 · EUR 20.00`, or an em dash when there is none.
            function formatRevenue(revenue) {
                const currencies = Object.keys(revenue).sort();
                if (currencies.length === 0) {
                    return "—";
                }
                const amounts = currencies.map((currency) => currency + " " + amountFormat.format(revenue[currency]));
                return amounts.join(" · ");
            }

            function showError(message) {
                errorText.textContent = message;
                errorText.hidden = false;
            }

            function clearError() {
                errorText.textContent = "";
                errorText.hidden = true;
            }

            function clearResults() {
                chart.replaceChildren();
                tableBody.replaceChildren();
                tableFoot.replaceChildren();
                unattributedText.textContent = "";
                table.removeAttribute("data-from");
                table.removeAttribute("data-to");
            }

            // Requests the campaign report of [from, to] (milliseconds, both inclusive).
            //
            // Throws ReportError with a message for the user when the key is rejected, the API is unreachable or
            // the response is not a report.
            async function fetchReport(key, from, to) {
                const query = "from=" + encodeURIComponent(new Date(from).toISOString())
                    + "&to=" + encodeURIComponent(new Date(to).toISOString());
                let response;
                try {
                    response = await fetch("/v1/reports/campaigns?" + query, {
                        headers: { "Authorization": "Bearer " + key },
                        cache: "no-store",
                        credentials: "omit",
                    });
                } catch {
                    throw new ReportError("The report API is unreachable. Check that the attribution-worker is "
                        + "running, then press Show to try again.");
                }
                if (response.status === 401) {
                    throw new ReportError("The report API rejected the key (401 unauthorized). "
                        + "Enter the advertiser's read key.");
                }
                if (response.status === 403) {
                    throw new ReportError("The key lacks the read scope (403 forbidden). "
                        + "Enter the advertiser's read key, not its web or agent key.");
                }
                let body = null;
                try {
                    body = await response.json();
                } catch {
                    body = null;
                }
                if (!response.ok) {
                    const detail = body && typeof body.message === "string" ? body.message : response.statusText;
                    throw new ReportError("The report API failed with status " + response.status + ". " + detail);
                }
                if (!body || !Array.isArray(body.campaigns)) {
                    throw new ReportError("The report API returned a response without a campaigns list.");
                }
                return body;
            }

            // Runs `task` on every item with at most `limit` tasks at a time and returns the results in order.
            async function mapWithLimit(items, limit, task) {
                const results = new Array(items.length);
                let next = 0;
                async function worker() {
                    while (next < items.length) {
                        const index = next;
                        next += 1;
                        results[index] = await task(items[index]);
                    }
                }
                const workers = [];
                for (let i = 0; i < Math.min(limit, items.length); i += 1) {
                    workers.push(worker());
                }
                await Promise.all(workers);
                return results;
            }

            async function load() {
                const number = ++loadNumber;
                clearError();
                const key = storedKey();
                if (!key) {
                    clearResults();
                    document.body.dataset.state = "idle";
                    statusText.textContent = "Enter the advertiser's read key and press Show.";
                    return;
                }
                if (!/^[\x21-\x7e]+$/.test(key)) {
                    clearResults();
                    document.body.dataset.state = "error";
                    showError("The key is invalid because it contains spaces or characters outside printable ASCII.");
                    return;
                }
                const first = parseDay(fromInput.value);
                const last = parseDay(toInput.value);
                if (first === null || last === null || first > last) {
                    document.body.dataset.state = "error";
                    showError("The range is invalid. Choose a From date on or before the To date.");
                    return;
                }
                const dayCount = (last - first) / DAY_MS + 1;
                if (dayCount > MAX_DAYS) {
                    document.body.dataset.state = "error";
                    showError("The range has " + dayCount + " days. Choose at most " + MAX_DAYS
                        + " days, because the chart requests one report per day.");
                    return;
                }

                document.body.dataset.state = "loading";
                statusText.textContent = "Loading " + dayCount + (dayCount === 1 ? " day" : " days") + "…";
                const rangeEnd = last + DAY_MS - 1;
                const days = [];
                for (let day = first; day <= last; day += DAY_MS) {
                    days.push(day);
                }
                let whole;
                let perDay;
                try {
                    // The whole range first, so a wrong key fails with one request instead of one per day.
                    whole = await fetchReport(key, first, rangeEnd);
                    const fetchDay = (day) => fetchReport(key, day, day + DAY_MS - 1);
                    perDay = await mapWithLimit(days, PARALLEL_REQUESTS, fetchDay);
                } catch (error) {
                    if (number !== loadNumber) {
                        return;
                    }
                    clearResults();
                    document.body.dataset.state = "error";
                    statusText.textContent = "";
                    showError(error instanceof ReportError ? error.message : "The page failed: " + String(error));
                    return;
                }
                if (number !== loadNumber) {
                    return;
                }
                const totals = days.map((day, index) => dayTotals(day, perDay[index]));
                renderTable(whole, first, rangeEnd);
                renderChart(totals);
                renderStatus(whole, first, last, dayCount);
                document.body.dataset.state = "ready";
            }

            function dayTotals(day, report) {
                let calls = 0;
                const revenue = {};
                for (const row of report.campaigns) {
                    calls += count(row.calls);
                    addRevenue(revenue, revenueOf(row));
                }
                return { day, calls, unattributed: count(report.unattributedCalls), revenue };
            }

            function textCell(text, className) {
                const cell = document.createElement("td");
                cell.textContent = text;
                if (className) {
                    cell.className = className;
                }
                return cell;
            }

            function labelCell(value) {
                return typeof value === "string" && value !== "" ? textCell(value) : textCell("(none)", "none");
            }

            function renderTable(report, from, to) {
                table.dataset.from = new Date(from).toISOString();
                table.dataset.to = new Date(to).toISOString();
                const rows = [];
                let sessions = 0;
                let calls = 0;
                const revenue = {};
                for (const campaign of report.campaigns) {
                    const source = typeof campaign.source === "string" ? campaign.source : "";
                    const medium = typeof campaign.medium === "string" ? campaign.medium : "";
                    const name = typeof campaign.name === "string" ? campaign.name : "";
                    const rowRevenue = revenueOf(campaign);

                    const row = document.createElement("tr");
                    row.setAttribute("data-campaign", source + "|" + medium + "|" + name);
                    row.append(
                        labelCell(source),
                        labelCell(medium),
                        labelCell(name),
                        textCell(integerFormat.format(count(campaign.sessions)), "num"),
                        textCell(integerFormat.format(count(campaign.calls)), "num"),
                        textCell(formatRevenue(rowRevenue), "num"),
                    );
                    rows.push(row);

                    sessions += count(campaign.sessions);
                    calls += count(campaign.calls);
                    addRevenue(revenue, rowRevenue);
                }
                tableBody.replaceChildren(...rows);

                const total = document.createElement("tr");
                const label = textCell(rows.length === 0 ? "No campaigns in this range" : "All campaigns");
                label.colSpan = 3;
                total.append(
                    label,
                    textCell(integerFormat.format(sessions), "num"),
                    textCell(integerFormat.format(calls), "num"),
                    textCell(formatRevenue(revenue), "num"),
                );
                tableFoot.replaceChildren(total);

                const unattributed = count(report.unattributedCalls);
                unattributedText.textContent = "Calls without a matched session in this range: "
                    + integerFormat.format(unattributed) + ".";
            }

            function renderStatus(report, first, last, dayCount) {
                let calls = count(report.unattributedCalls);
                const revenue = {};
                for (const row of report.campaigns) {
                    calls += count(row.calls);
                    addRevenue(revenue, revenueOf(row));
                }
                statusText.textContent = isoDay(first) + " to " + isoDay(last) + " (" + dayCount
                    + (dayCount === 1 ? " day" : " days") + "): " + integerFormat.format(calls)
                    + (calls === 1 ? " call" : " calls") + ", revenue " + formatRevenue(revenue) + ".";
            }

            function svg(name, attributes, parent) {
                const element = document.createElementNS(SVG_NS, name);
                for (const [attribute, value] of Object.entries(attributes)) {
                    element.setAttribute(attribute, String(value));
                }
                parent.appendChild(element);
                return element;
            }

            function svgText(text, attributes, parent) {
                const element = svg("text", attributes, parent);
                element.textContent = text;
                return element;
            }

            // Returns an axis maximum of at least `maximum` and the ticks from 0 to it, about four steps of 1, 2 or 5
            // times a power of ten. Integer scales never step by less than 1.
            function niceScale(maximum, isInteger) {
                const top = maximum > 0 ? maximum : 1;
                const rough = top / 4;
                const magnitude = Math.pow(10, Math.floor(Math.log10(rough)));
                let step = [1, 2, 5, 10].map((factor) => factor * magnitude).find((candidate) => candidate >= rough);
                if (isInteger) {
                    step = Math.max(1, Math.ceil(step));
                }
                const stepCount = Math.ceil(top / step);
                const ticks = [];
                for (let i = 0; i <= stepCount; i += 1) {
                    ticks.push(i * step);
                }
                return { maximum: stepCount * step, ticks };
            }

            // Returns the currency with the most revenue in the range, which the chart's revenue line shows.
            function chartCurrency(totals) {
                const sums = {};
                for (const total of totals) {
                    addRevenue(sums, total.revenue);
                }
                const currencies = Object.keys(sums).sort((a, b) => sums[b] - sums[a] || a.localeCompare(b));
                return { currency: currencies.length > 0 ? currencies[0] : "USD", others: currencies.slice(1) };
            }

            function renderChart(totals) {
                chart.replaceChildren();
                const width = 960;
                const height = 320;
                const left = 56;
                const right = 88;
                const top = 36;
                const bottom = 40;
                const plotWidth = width - left - right;
                const plotHeight = height - top - bottom;
                const { currency, others } = chartCurrency(totals);
                revenueLegend.textContent = "Revenue in " + currency
                    + (others.length > 0 ? " (" + others.join(", ") + " in the table only)" : "");

                const callScale = niceScale(Math.max(...totals.map((total) => total.calls + total.unattributed)), true);
                const revenueScale = niceScale(Math.max(...totals.map((total) => total.revenue[currency] || 0)), false);
                const callY = (value) => top + plotHeight - (value / callScale.maximum) * plotHeight;
                const revenueY = (value) => top + plotHeight - (value / revenueScale.maximum) * plotHeight;

                for (const tick of callScale.ticks) {
                    const y = callY(tick);
                    svg("line", { class: "grid", x1: left, x2: left + plotWidth, y1: y, y2: y }, chart);
                    svgText(integerFormat.format(tick), {
                        class: "axis-label", x: left - 8, y: y + 4, "text-anchor": "end",
                    }, chart);
                }
                for (const tick of revenueScale.ticks) {
                    svgText(amountFormat.format(tick), {
                        class: "axis-label", x: left + plotWidth + 8, y: revenueY(tick) + 4, "text-anchor": "start",
                    }, chart);
                }
                svgText("calls", { class: "axis-label", x: left - 8, y: top - 18, "text-anchor": "end" }, chart);
                svgText(currency, {
                    class: "axis-label", x: left + plotWidth + 8, y: top - 18, "text-anchor": "start",
                }, chart);

                const band = plotWidth / totals.length;
                const barWidth = Math.max(2, band * 0.6);
                const labelEvery = Math.ceil(totals.length / 10);
                const points = [];
                totals.forEach((total, index) => {
                    const center = left + band * (index + 0.5);
                    const amount = total.revenue[currency] || 0;
                    const group = svg("g", {
                        class: "day",
                        "data-day": isoDay(total.day),
                        "data-calls": total.calls,
                        "data-unattributed": total.unattributed,
                        "data-revenue": amount.toFixed(2),
                    }, chart);
                    const title = svg("title", {}, group);
                    title.textContent = isoDay(total.day) + ": " + total.calls + " matched, " + total.unattributed
                        + " without a session, revenue " + formatRevenue(total.revenue);
                    const matchedTop = callY(total.calls);
                    svg("rect", {
                        class: "bar", x: center - barWidth / 2, y: matchedTop, width: barWidth,
                        height: top + plotHeight - matchedTop,
                    }, group);
                    const stackTop = callY(total.calls + total.unattributed);
                    svg("rect", {
                        class: "bar-unattributed", x: center - barWidth / 2, y: stackTop, width: barWidth,
                        height: matchedTop - stackTop,
                    }, group);
                    points.push([center, revenueY(amount)]);
                    if (index % labelEvery === 0) {
                        svgText(dayLabelFormat.format(new Date(total.day)), {
                            class: "axis-label", x: center, y: height - bottom + 18, "text-anchor": "middle",
                        }, chart);
                    }
                });
                const linePoints = points.map((point) => point.join(",")).join(" ");
                svg("polyline", { class: "revenue-line", points: linePoints }, chart);
                points.forEach(([x, y], index) => {
                    svg("circle", { class: "point", cx: x, cy: y, r: 4, "data-day": isoDay(totals[index].day) }, chart);
                });
            }

            function setDefaultRange() {
                const today = parseDay(isoDay(Date.now()));
                fromInput.value = isoDay(today - (DEFAULT_DAYS - 1) * DAY_MS);
                toInput.value = isoDay(today);
            }

            form.addEventListener("submit", (event) => {
                event.preventDefault();
                const key = keyInput.value.trim();
                if (key === "") {
                    showError("Enter the advertiser's read key.");
                    return;
                }
                storeKey(key);
                load();
            });

            forgetButton.addEventListener("click", () => {
                loadNumber += 1;
                storeKey(null);
                keyInput.value = "";
                clearResults();
                clearError();
                document.body.dataset.state = "idle";
                statusText.textContent = "The key is forgotten. Enter a read key and press Show.";
            });

            takeKeyFromFragment();
            setDefaultRange();
            keyInput.value = storedKey() || "";
            load();
        })();
        </script>
        </body>
        </html>
        """#
}
