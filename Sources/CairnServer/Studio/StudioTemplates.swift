import Mustache

/// Studio's pages as Mustache templates, compiled into the binary (one executable, nothing to
/// install beside it). Every page fills the layout's `content` block; `{{x}}` escapes for HTML
/// (attributes included), so data from the store is never markup.
enum StudioTemplates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in sources {
            // The templates are constants of this file: one that does not parse is a bug here.
            try! library.register(text, named: name)
        }
        return library
    }()

    static func render(_ name: String, _ view: [String: Any]) -> String {
        library.render(view, withTemplate: name) ?? ""
    }

    /// Every template by name: these, and each page group's (declared beside its routes).
    private static var sources: [(String, String)] {
        [
            ("layout", layout), ("sign-in", signIn), ("runs", runs), ("run", run), ("run-live", runLive),
            ("message", message),
        ] + operationTemplates + sandboxTemplates + keyTemplates + workspaceTemplates + artifactTemplates
            + checkpointTemplates
    }

    private static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · Cairn Studio</title>
        <link rel="stylesheet" href="/studio/assets/studio.css">
        <link rel="icon" href="data:,">
        <script src="/studio/assets/studio.js" defer></script>
        </head>
        <body>
        <header>
        <a class="brand" href="/studio/runs">Cairn Studio</a>
        {{#session}}
        <nav aria-label="Sections">{{#nav}}<a href="{{path}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a>{{/nav}}</nav>
        <span class="who">tenant <b>{{tenant}}</b> · {{access}}</span>
        <form id="sign-out" method="post" action="/studio/sign-out">
        <input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Sign out</button>
        </form>
        {{/session}}
        </header>
        <main>
        {{$content}}{{/content}}
        </main>
        </body>
        </html>
        """

    private static let signIn = """
        {{<layout}}{{$content}}
        <h1>Sign in</h1>
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        <form id="sign-in" method="post" action="/studio/sign-in" class="card">
        <input type="hidden" name="csrf" value="{{csrf}}">
        {{#open}}
        <p>This server has no API keys yet: it is open to local clients.
        Continue without a key, or create one with <code>cairn keys create --tenant NAME</code>.</p>
        <input type="hidden" name="open" value="1">
        <button type="submit">Continue</button>
        {{/open}}
        {{^open}}
        <label for="key">API key</label>
        <input id="key" name="key" type="password" autocomplete="current-password" required
         placeholder="cairn_…" autofocus>
        <button type="submit">Sign in</button>
        {{/open}}
        </form>
        <p class="hint">The key is exchanged for a session that lasts 12 hours; it is not kept in the browser.</p>
        {{/content}}{{/layout}}
        """

    private static let runs = """
        {{<layout}}{{$content}}
        <h1>Runs</h1>
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        <form id="run-filter" method="get" action="/studio/runs" class="filters">
        <label>Status <select name="status">
        {{#statuses}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/statuses}}
        </select></label>
        <label>Workflow <input name="workflow" value="{{workflow}}" maxlength="200"></label>
        <label>Order <select name="order">
        {{#orders}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/orders}}
        </select></label>
        <button type="submit">Filter</button>
        </form>
        {{#hasRuns}}
        <div class="scroll">
        <table id="runs">
        <thead><tr><th scope="col">Run</th><th scope="col">Workflow</th><th scope="col">Status</th>
        <th scope="col">Created</th><th scope="col">Updated</th></tr></thead>
        <tbody>
        {{#runs}}
        <tr data-run-id="{{id}}">
        <td><a href="/studio/runs/{{id}}"><code>{{id}}</code></a></td>
        <td>{{workflow}}</td>
        <td class="status"><span class="badge {{status}}">{{status}}</span></td>
        <td><time datetime="{{created}}">{{created}}</time></td>
        <td><time datetime="{{updated}}">{{updated}}</time></td>
        </tr>
        {{/runs}}
        </tbody>
        </table>
        </div>
        {{/hasRuns}}
        {{^hasRuns}}
        <p class="empty">No runs{{#filtered}} match this filter{{/filtered}}. Runs appear here when a worker
        starts one, e.g. with the <code>tidebase</code> SDK or <code>cairn runs create</code>.</p>
        {{/hasRuns}}
        <p class="pager">{{#filtered}}<a href="/studio/runs">All runs</a> {{/filtered}}
        {{#next}}<a rel="next" href="{{next}}">{{#oldestFirst}}Newer{{/oldestFirst}}{{^oldestFirst}}Older{{/oldestFirst}} runs →</a>{{/next}}</p>
        {{/content}}{{/layout}}
        """

    private static let run = """
        {{<layout}}{{$content}}
        <p><a href="/studio/runs">← Runs</a></p>
        <h1>Run <code class="copy" title="Select to copy">{{id}}</code>
        <button type="button" class="copy-button" data-copy="{{id}}" aria-label="Copy the run id">Copy</button></h1>
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        <div id="live" data-run="{{id}}" data-live="{{live}}">
        {{> run-live}}
        </div>
        {{/content}}{{/layout}}
        """

    /// The part of a run's page that live updates replace (also served alone, `?part=live`).
    private static let runLive = """
        <dl class="facts">
        <dt>Status</dt><dd><span id="run-status" class="badge {{status}}">{{status}}</span>{{#waiting}} · waiting on a gate{{/waiting}}</dd>
        <dt>Workflow</dt><dd>{{workflow}}</dd>
        <dt>Created</dt><dd><time datetime="{{created}}">{{created}}</time></dd>
        {{#completed}}<dt>Finished</dt><dd><time datetime="{{completed}}">{{completed}}</time></dd>{{/completed}}
        <dt>Attempt</dt><dd>{{attempt}}</dd>
        {{#queue}}<dt>Queue</dt><dd>{{queue}}</dd>{{/queue}}
        {{#fork}}<dt>Forked from</dt><dd><a href="/studio/runs/{{parent}}"><code>{{parent}}</code></a> at step {{step}}</dd>{{/fork}}
        {{#cancelReason}}<dt>Cancelled</dt><dd>{{cancelReason}}</dd>{{/cancelReason}}
        </dl>
        {{#canCancel}}
        <form id="cancel" method="post" action="/studio/runs/{{id}}/cancel" class="inline">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Reason <input name="reason" maxlength="500"></label>
        <button type="submit" class="danger">Cancel run</button>
        </form>
        {{/canCancel}}
        {{#errorText}}<h2>Error</h2><pre class="json">{{errorText}}</pre>{{/errorText}}
        {{#resultText}}<h2>Result</h2><pre class="json">{{resultText}}</pre>{{/resultText}}

        <section id="gates" aria-labelledby="gates-h">
        <h2 id="gates-h">Gates</h2>
        {{#gates}}
        <div class="gate card" data-gate-id="{{id}}">
        <h3>{{name}} <span class="badge {{status}}">{{status}}</span></h3>
        {{#prompt}}<p>{{prompt}}</p>{{/prompt}}
        {{#dataText}}<pre class="json">{{dataText}}</pre>{{/dataText}}
        {{#pending}}{{#canWrite}}
        <form class="gate" data-gate="{{id}}" method="post" action="/studio/runs/{{runId}}/gates/{{id}}">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="comment-{{id}}">Comment</label>
        <textarea id="comment-{{id}}" name="comment" rows="2" maxlength="2000"></textarea>
        <button type="submit" name="decision" value="approve">Approve</button>
        <button type="submit" name="decision" value="reject" class="danger">Reject</button>
        </form>
        {{/canWrite}}{{/pending}}
        {{^pending}}<p class="decision">{{status}}{{#actor}} by {{actor}}{{/actor}}{{#resolved}} at <time datetime="{{resolved}}">{{resolved}}</time>{{/resolved}}{{#comment}}: “{{comment}}”{{/comment}}</p>{{/pending}}
        </div>
        {{/gates}}
        {{^gates}}<p class="empty">No gates: the run has not asked a person for anything.</p>{{/gates}}
        </section>

        <section aria-labelledby="steps-h">
        <h2 id="steps-h">Steps</h2>
        {{#hasSteps}}
        <ol id="steps" class="timeline">
        {{#steps}}
        <li data-step="{{name}}" data-status="{{status}}">
        <span class="name">{{name}}</span> <span class="badge {{status}}">{{status}}</span>
        {{#retried}}<span class="attempts">attempt {{attempt}}</span>{{/retried}}
        <span class="bar" aria-hidden="true"><span style="margin-left:{{offset}}%;width:{{width}}%"></span></span>
        <span class="duration">{{duration}}</span>
        {{#errorText}}<pre class="json error-text">{{errorText}}</pre>{{/errorText}}
        {{#forkable}}{{#canWrite}}<form class="fork" method="post" action="/studio/runs/{{id}}/fork">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="step" value="{{name}}">
        <button type="submit" title="A new run that replays the steps up to this one and runs the rest again">Retry after this step</button></form>{{/canWrite}}{{/forkable}}
        </li>
        {{/steps}}
        </ol>
        {{/hasSteps}}
        {{^hasSteps}}<ol id="steps" class="timeline"></ol><p class="empty">No steps yet. They appear here as the worker runs them.</p>{{/hasSteps}}
        {{#olderSteps}}<p class="pager"><a rel="prev" href="{{olderSteps}}">← Earlier steps</a> (the newest 100 are shown)</p>{{/olderSteps}}
        </section>

        {{#hasChildren}}
        <section aria-labelledby="children-h">
        <h2 id="children-h">Child runs</h2>
        <ul id="children">
        {{#children}}<li style="margin-left:{{indent}}rem"><span class="name">{{edge}}</span> <a href="/studio/runs/{{id}}"><code>{{id}}</code></a> {{workflow}} <span class="badge {{status}}">{{status}}</span></li>{{/children}}
        </ul>
        {{#childrenCapped}}<p class="hint">The first 200 runs of the tree are shown.</p>{{/childrenCapped}}
        </section>
        {{/hasChildren}}

        {{#hasForks}}
        <section aria-labelledby="forks-h">
        <h2 id="forks-h">Forks of this run</h2>
        <ul id="forks">
        {{#forks}}<li data-fork="{{id}}"><a href="/studio/runs/{{id}}"><code>{{id}}</code></a> after step <span class="name">{{step}}</span> <span class="badge {{status}}">{{status}}</span> <time datetime="{{created}}">{{created}}</time></li>{{/forks}}
        </ul>
        {{#olderForks}}<p class="pager"><a rel="next" href="{{olderForks}}">Older forks →</a></p>{{/olderForks}}
        </section>
        {{/hasForks}}

        {{#hasUsage}}
        <section aria-labelledby="usage-h">
        <h2 id="usage-h">Usage</h2>
        <p id="usage-total">{{totalTokens}} tokens · ${{totalCost}} · {{usageRecords}} entries, the newest {{usageShown}} below</p>
        <div class="scroll"><table>
        <thead><tr><th scope="col">Kind</th><th scope="col">Model</th><th scope="col">Tokens</th><th scope="col">Cost (USD)</th><th scope="col">When</th></tr></thead>
        <tbody>{{#usage}}<tr><td>{{kind}}</td><td>{{model}}</td><td>{{tokens}}</td><td>{{cost}}</td><td><time datetime="{{created}}">{{created}}</time></td></tr>{{/usage}}</tbody>
        </table></div>
        </section>
        {{/hasUsage}}

        {{#hasVersions}}
        <section aria-labelledby="state-h">
        <h2 id="state-h">State versions</h2>
        <ol id="state-versions">
        {{#versions}}<li>v{{version}} {{#label}}<b>{{label}}</b> {{/label}}<time datetime="{{created}}">{{created}}</time></li>{{/versions}}
        </ol>
        <form id="state-diff" method="get" action="/studio/runs/{{id}}" class="filters">
        <label>From <select name="from">{{#versions}}<option value="{{id}}"{{#fromSelected}} selected{{/fromSelected}}>v{{version}}{{#label}} {{label}}{{/label}}</option>{{/versions}}</select></label>
        <label>To <select name="to">{{#versions}}<option value="{{id}}"{{#toSelected}} selected{{/toSelected}}>v{{version}}{{#label}} {{label}}{{/label}}</option>{{/versions}}</select></label>
        <button type="submit">Compare</button>
        </form>
        {{#diff}}<div id="diff" class="diff card"><h3>v{{from}} → v{{to}}</h3>
        {{#same}}<p>No difference.</p>{{/same}}
        <ul>{{#added}}<li class="added">+ {{path}}</li>{{/added}}{{#removed}}<li class="removed">− {{path}}</li>{{/removed}}{{#changed}}<li class="changed">~ {{path}}</li>{{/changed}}</ul>
        </div>{{/diff}}
        </section>
        {{/hasVersions}}

        <section aria-labelledby="events-h">
        <h2 id="events-h">Events</h2>
        <ol id="events" reversed>
        {{#events}}<li data-seq="{{seq}}"><span class="seq">#{{seq}}</span> <b>{{type}}</b> <time datetime="{{created}}">{{created}}</time></li>{{/events}}
        </ol>
        {{^events}}<p class="empty">No events.</p>{{/events}}
        {{#olderEvents}}<p class="pager"><a rel="next" href="{{olderEvents}}">Older events →</a></p>{{/olderEvents}}
        </section>
        """

    private static let message = """
        {{<layout}}{{$content}}
        <h1>{{title}}</h1>
        <p class="error" role="alert">{{message}}</p>
        <p><a href="{{back}}">{{backLabel}}</a></p>
        {{/content}}{{/layout}}
        """

    /// One small stylesheet: readable on a phone, visible focus, contrast ≥ 4.5:1.
    static let stylesheet = """
        :root{--fg:#1b1f24;--muted:#57606a;--bg:#fff;--line:#d0d7de;--accent:#0550ae;--bad:#a40e26;--ok:#116329;--warn:#7d4e00}
        *{box-sizing:border-box}
        body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
        header{display:flex;flex-wrap:wrap;gap:.75rem 1.25rem;align-items:center;padding:.6rem 1rem;border-bottom:1px solid var(--line)}
        header .brand{font-weight:700;color:var(--fg);text-decoration:none}
        header nav{display:flex;gap:1rem}
        header .who{color:var(--muted);margin-left:auto}
        main{padding:1rem;max-width:72rem;margin:0 auto}
        a{color:var(--accent)}
        a[aria-current=page]{font-weight:700}
        :focus-visible{outline:3px solid var(--accent);outline-offset:2px}
        h1{font-size:1.4rem;word-break:break-all}
        h2{font-size:1.1rem;margin-top:1.5rem}
        code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace}
        table{border-collapse:collapse;width:100%}
        th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
        .scroll{overflow-x:auto}
        .card{border:1px solid var(--line);border-radius:6px;padding:.75rem;margin:.5rem 0}
        .filters,.inline{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin:.5rem 0}
        label{display:inline-flex;flex-direction:column;gap:.15rem;font-size:.9rem;color:var(--muted)}
        input,select,textarea,button{font:inherit;padding:.35rem .5rem;border:1px solid var(--line);border-radius:4px}
        textarea{width:100%;display:block;margin:.25rem 0 .5rem}
        button{background:var(--accent);color:#fff;border-color:var(--accent);cursor:pointer}
        button.danger{background:var(--bad);border-color:var(--bad)}
        header button,.copy-button{background:var(--bg);color:var(--accent)}
        .error{color:var(--bad);font-weight:600}
        .notice{color:var(--ok)}
        .empty,.hint{color:var(--muted)}
        .badge{display:inline-block;padding:0 .45rem;border-radius:999px;border:1px solid currentColor;font-size:.8rem}
        .completed,.approved{color:var(--ok)}
        .failed,.rejected,.cancelled,.canceled,.failed_retryable{color:var(--bad)}
        .running,.pending,.queued,.manual_review{color:var(--warn)}
        .facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}
        .facts dt{color:var(--muted)}
        .facts dd{margin:0}
        .timeline{list-style:none;padding:0}
        .timeline li{display:grid;grid-template-columns:minmax(8rem,1fr) auto minmax(6rem,3fr) auto;gap:.5rem;align-items:center;padding:.3rem 0;border-bottom:1px solid var(--line)}
        .timeline .bar{background:#eef1f4;height:.6rem;border-radius:3px;display:block}
        .timeline .bar span{display:block;height:100%;min-width:2px;background:var(--accent);border-radius:3px}
        .timeline .error-text,.timeline .attempts{grid-column:1/-1}
        .json{background:#f6f8fa;padding:.5rem;overflow:auto;max-height:16rem;font-size:13px}
        #events{font-size:.9rem;padding-left:1.5rem}
        .seq{color:var(--muted)}
        @media (max-width:40rem){.timeline li{grid-template-columns:1fr auto}.timeline .bar{grid-column:1/-1}}
        .subnav{display:flex;flex-wrap:wrap;gap:1rem;margin:.25rem 0 .75rem}
        .chart{margin:1rem 0}.chart svg{max-width:100%;height:auto;font-size:12px}.chart rect{fill:var(--accent)}.chart line{stroke:var(--line)}.chart text{fill:var(--fg)}
        .saves{list-style:none;padding:0}.diff ul{list-style:none;padding-left:.5rem;margin:.25rem 0}.diff .added{color:var(--ok)}.active{color:var(--warn)}.diff .removed{color:var(--bad)}.diff .changed{color:var(--warn)}
        .tree{font-size:12px}.tree .edge{fill:none;stroke:var(--muted);stroke-width:1.5}.tree .edge.dashed{stroke-dasharray:4 3}
        .tree rect{fill:var(--bg);stroke:var(--accent);stroke-width:1.5}.tree .fork rect{stroke:var(--ok)}.tree .parent rect{stroke:var(--muted);stroke-dasharray:4 3}
        .tree .current rect{fill:#ddf4ff;stroke-width:3}.tree text{fill:var(--fg);text-anchor:middle}.tree text.sub{fill:var(--muted);font-size:10px}
        .tree a:focus-visible rect,.tree a:hover rect{stroke-width:3}.tree-list ul,.tree-list ol{margin:.2rem 0}.crumbs{margin:.5rem 0}
        .visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}.digest{word-break:break-all}
        fieldset{border:1px solid var(--line);border-radius:4px;display:flex;flex-wrap:wrap;gap:.75rem;align-items:center}.check{flex-direction:row;align-items:center;gap:.3rem;color:var(--fg)}
        .num{text-align:right;font-variant-numeric:tabular-nums}.executions{list-style:none;padding:0}
        """

    /// Without it every page still reads; with it, times are shown in the viewer's zone, ids
    /// copy with a click, and a run's page follows its events (an EventSource on the run's
    /// stream; each event refetches the live part, at most a few times a second).
    static let script = """
        "use strict";
        function localTimes(root){root.querySelectorAll("time[datetime]").forEach(function(t){var d=new Date(t.getAttribute("datetime"));if(!isNaN(d)){t.textContent=d.toLocaleString();t.title=t.getAttribute("datetime");}});}
        document.addEventListener("DOMContentLoaded",function(){
        localTimes(document);
        document.addEventListener("click",function(e){var b=e.target.closest("[data-copy]");if(b&&navigator.clipboard){navigator.clipboard.writeText(b.getAttribute("data-copy")).then(function(){b.textContent="Copied";});}});
        var live=document.getElementById("live");
        if(!live||live.getAttribute("data-live")!=="1"||!window.EventSource)return;
        var run=live.getAttribute("data-run"),pending=false,busy=false;
        function refresh(){if(busy){pending=true;return;}busy=true;pending=false;
        fetch("/studio/runs/"+encodeURIComponent(run)+"?part=live",{credentials:"same-origin"}).then(function(r){if(!r.ok)throw new Error(r.status);return r.text();}).then(function(html){
        if(live.contains(document.activeElement)&&document.activeElement!==document.body){pending=true;live.addEventListener("focusout",function(){setTimeout(refresh,0);},{once:true});return;}
        var kept={};live.querySelectorAll("textarea[id],input[id]:not([type=hidden])").forEach(function(f){if(f.value)kept[f.id]=f.value;});
        live.innerHTML=html;localTimes(live);
        Object.keys(kept).forEach(function(id){var f=document.getElementById(id);if(f)f.value=kept[id];});}).catch(function(){}).finally(function(){busy=false;if(pending&&!live.contains(document.activeElement))setTimeout(refresh,250);});}
        var source=new EventSource("/studio/runs/"+encodeURIComponent(run)+"/events?after="+(live.querySelector("#events li[data-seq]")?live.querySelector("#events li[data-seq]").getAttribute("data-seq"):"0"));
        var timer=null;source.onmessage=function(){if(timer)return;timer=setTimeout(function(){timer=null;refresh();},150);};
        });
        """
}
