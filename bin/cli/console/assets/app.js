// The makini-webhooks web console: preact + htm, served as ES modules straight from node_modules
// (no build step). Every value from a webhook is rendered as text by preact, which escapes it; this
// file never sets innerHTML (no dangerouslySetInnerHTML), and the server's CSP allows no inline script.
import { h, render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import htm from 'htm';

const html = htm.bind(h);

/** Calls the console's API; the access token travels in the HttpOnly cookie. */
async function api(path, body) {
  const response = await fetch(path, body === undefined ? { credentials: 'same-origin' } : { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  let value;
  try {
    value = await response.json();
  } catch {
    value = { error: `${response.status} ${response.statusText}` };
  }
  if (!response.ok) throw new Error(value?.error ?? `${response.status}`);
  return value;
}

/** Loads `path` now, when `deps` change, and every `everyMs` if given. */
function useApi(path, everyMs) {
  const [state, setState] = useState({ data: undefined, error: undefined, loading: true });
  const load = useCallback(async () => {
    try {
      setState({ data: await api(path), error: undefined, loading: false });
    } catch (error) {
      setState((s) => ({ ...s, error: error.message, loading: false }));
    }
  }, [path]);
  useEffect(() => {
    load();
    if (!everyMs) return undefined;
    const timer = setInterval(load, everyMs);
    return () => clearInterval(timer);
  }, [load, everyMs]);
  return { ...state, reload: load };
}

function useHash() {
  const [hash, setHash] = useState(location.hash || '#/events');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/events');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

const dash = (v) => (v === null || v === undefined || v === '' ? '-' : String(v));
const Error_ = ({ text }) => (text ? html`<div class="error" role="alert">${text}</div>` : null);
const Notice = ({ text }) => (text ? html`<div class="notice" role="status">${text}</div>` : null);
function Badge({ value }) {
  const bad = ['unprocessable', 'failing', 'open', 'ALARM', 'failed', 'reauthorization_required', 'offline', 'unauthorized'];
  const ok = ['done', 'closed', 'OK', 'completed', 'active', 'online', 'ok'];
  const cls = bad.includes(value) ? 'bad' : ok.includes(value) ? 'ok' : 'warn';
  return html`<span class=${`badge ${cls}`}>${dash(value)}</span>`;
}

/** A mutating action: asks first, then runs `run`; the page shows the outcome or the error. */
function useConfirm() {
  const [pending, setPending] = useState(undefined);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState({});
  const ask = (text, run) => {
    setResult({});
    setPending({ text, run });
  };
  const view = html`
    ${pending &&
    html`<div class="confirm" role="alertdialog" aria-label="Confirm">
      <p>${pending.text}</p>
      <button data-test="confirm" disabled=${busy}
        onClick=${async () => {
          setBusy(true);
          try {
            setResult({ notice: await pending.run() });
          } catch (error) {
            setResult({ error: error.message });
          } finally {
            setBusy(false);
            setPending(undefined);
          }
        }}>Confirm</button>
      <button class="secondary" data-test="cancel" disabled=${busy} onClick=${() => setPending(undefined)}>Cancel</button>
    </div>`}
    <${Notice} text=${result.notice} /><${Error_} text=${result.error} />`;
  return { ask, view };
}

function Events() {
  const [filter, setFilter] = useState({ connection: '', type: '', since: '', until: '' });
  const [live, setLive] = useState(true);
  const query = new URLSearchParams(Object.entries(filter).filter(([, v]) => v !== '')).toString();
  const { data, error } = useApi(`/api/events${query ? `?${query}` : ''}`, live ? 2000 : 0);
  const field = (name, label, placeholder) => html`<label>${label}<input name=${name} value=${filter[name]} placeholder=${placeholder} onInput=${(e) => setFilter({ ...filter, [name]: e.currentTarget.value })} /></label>`;
  return html`<section>
    <h2>Event stream <span class="muted">(newest first${live ? ', live' : ''})</span></h2>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      ${field('connection', 'Connection', 'conn_42')} ${field('type', 'Type', 'assets.updated')}
      ${field('since', 'From (ISO time)', '2026-12-01T00:00:00Z')} ${field('until', 'To (ISO time)', '2026-12-02T00:00:00Z')}
      <label>Live<input type="checkbox" checked=${live} onChange=${(e) => setLive(e.currentTarget.checked)} /></label>
    </form>
    <${Error_} text=${error} />
    ${data && data.length === 0 && html`<p class="muted" data-test="no-events">${query ? 'No event matches these filters.' : 'No events yet. Send one from “Send a test webhook”.'}</p>`}
    ${data && data.length > 0 &&
    html`<table data-test="events">
      <thead><tr><th>occurred</th><th>type</th><th>connection</th><th>source</th><th>deliveries</th><th>outcome</th><th>ids</th><th>webhook id</th></tr></thead>
      <tbody>
        ${data.map(
          (e) => html`<tr class="clickable" key=${e.webhookId} data-webhook-id=${e.webhookId} onClick=${() => (location.hash = `#/event/${encodeURIComponent(e.webhookId)}`)}>
            <td class="mono">${dash(e.occurredAt)}</td><td>${dash(e.type)}</td><td>${dash(e.connectionId)}</td><td>${dash(e.source)}</td>
            <td>${e.deliveries}</td><td><${Badge} value=${e.outcome} /></td>
            <td class="mono">${e.ids ? (e.ids.length > 2 ? `${e.ids.slice(0, 2).join(', ')} … (${e.ids.length})` : e.ids.join(', ')) : '-'}</td>
            <td class="mono"><a href=${`#/event/${encodeURIComponent(e.webhookId)}`}>${e.webhookId.length > 40 ? `${e.webhookId.slice(0, 40)}…` : e.webhookId}</a></td>
          </tr>`,
        )}
      </tbody>
    </table>`}
  </section>`;
}

function EventDetail({ id }) {
  // Refreshed every 2 s: an event still processing (or failing) shows its outcome as it changes.
  const { data, error } = useApi(`/api/event?id=${encodeURIComponent(id)}`, 2000);
  let body = data?.body;
  try {
    body = JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    // not JSON: shown as received
  }
  return html`<section data-test="event-detail">
    <p><a href="#/events">← event stream</a></p>
    <h2>Event <span class="mono">${id}</span></h2>
    <${Error_} text=${error} />
    ${data &&
    html`<dl class="facts">
        <dt>type</dt><dd>${dash(data.type)}</dd>
        <dt>connection</dt><dd>${dash(data.connectionId)}</dd>
        <dt>occurred at</dt><dd>${dash(data.occurredAt)}</dd>
        <dt>received at</dt><dd>${dash(data.receivedAt)}</dd>
        <dt>source</dt><dd>${dash(data.source)}</dd>
        <dt>deliveries</dt><dd data-test="deliveries">${data.deliveries}</dd>
        <dt>processing outcome</dt><dd data-test="outcome"><${Badge} value=${data.outcome} />${data.stale ? ' (stale: a newer event was already applied)' : ''}</dd>
        <dt>unprocessable because</dt><dd>${dash(data.unprocessableReason)}</dd>
        <dt>last error</dt><dd>${dash(data.lastError)}</dd>
      </dl>
      <h3>Body, as received</h3>
      <pre data-test="body">${body}</pre>
      <h3>On the event bus</h3>
      ${data.bus === null
        ? html`<p class="muted">On AWS the bus keeps no log: attach a rule to the EventBusName output to see what it published.</p>`
        : data.bus.length === 0
          ? html`<p class="muted">Nothing published for this event (yet).</p>`
          : html`<pre data-test="bus">${JSON.stringify(data.bus.map((e) => ({ time: e.time, 'detail-type': e['detail-type'], detail: e.detail })), null, 2)}</pre>`}`}
  </section>`;
}

function Connections() {
  const { data, error } = useApi('/api/connections', 5000);
  return html`<section>
    <h2>Connections</h2>
    <${Error_} text=${error} />
    ${data && data.length === 0 && html`<p class="muted">No connection seen yet.</p>`}
    ${data && data.length > 0 &&
    html`<table data-test="connections">
      <thead><tr><th>connection</th><th>status</th><th>last webhook</th><th>last poll</th><th>sync status</th><th>token expires</th><th>breaker</th><th>deleted</th></tr></thead>
      <tbody>
        ${data.map(
          (c) => html`<tr key=${c.connectionId}>
            <td class="mono">${c.connectionId}</td><td><${Badge} value=${c.status} /></td><td class="mono">${dash(c.lastWebhookAt)}</td>
            <td class="mono">${dash(c.lastPolledAt)}${c.lastPollOutcome ? html` <${Badge} value=${c.lastPollOutcome} />` : ''}</td>
            <td>${c.syncStatus ? html`<${Badge} value=${c.syncStatus} />` : '-'} <span class="mono muted">${c.lastSyncAt ?? ''}</span></td>
            <td class="mono">${dash(c.tokenExpiresAt)}</td><td><${Badge} value=${c.breaker} /></td>
            <td>${c.deleted ? html`<span class="badge bad">deleted ${c.deletedAt}</span>` : 'no'}</td>
          </tr>`,
        )}
      </tbody>
    </table>`}
  </section>`;
}

function DeadLetters({ readOnly }) {
  // Looking at the DLQ counts as a receive (as in the SQS console): refreshed every 5 s, not faster.
  const { data, error, reload } = useApi('/api/dlq', 5000);
  const [selected, setSelected] = useState(new Set());
  const { ask, view } = useConfirm();
  const toggle = (id) => {
    const next = new Set(selected);
    next.has(id) ? next.delete(id) : next.add(id);
    setSelected(next);
  };
  const redrive = (body, what) =>
    ask(`Move ${what} back to the webhook queue? It will be processed again.`, async () => {
      const r = await api('/api/dlq/redrive', body);
      setSelected(new Set());
      reload();
      return `Redrive ${r.status}: ${r.moved} message(s) moved back to the webhook queue.`;
    });
  return html`<section>
    <h2>Dead-letter queue</h2>
    <${Error_} text=${error} />
    ${!readOnly &&
    html`<form class="action" onSubmit=${(e) => e.preventDefault()}>
      <button data-test="redrive-selected" disabled=${selected.size === 0} onClick=${() => redrive({ messageIds: [...selected] }, `${selected.size} selected message(s)`)}>Redrive selected (${selected.size})</button>
      <button data-test="redrive-all" class="secondary" disabled=${!data || data.length === 0} onClick=${() => redrive({ all: true }, 'every message in the dead-letter queue')}>Redrive all</button>
    </form>`}
    ${view}
    ${data && data.length === 0 && html`<p class="muted" data-test="dlq-empty">The dead-letter queue is empty.</p>`}
    ${data && data.length > 0 &&
    html`<table data-test="dlq">
      <thead><tr>${!readOnly && html`<th></th>`}<th>message</th><th>webhook</th><th>type</th><th>connection</th><th>received</th><th>receives</th><th>failure reason</th>${!readOnly && html`<th></th>`}</tr></thead>
      <tbody>
        ${data.map(
          (m) => html`<tr key=${m.messageId} data-message-id=${m.messageId}>
            ${!readOnly && html`<td><input type="checkbox" aria-label="select" checked=${selected.has(m.messageId)} onChange=${() => toggle(m.messageId)} /></td>`}
            <td class="mono">${m.messageId}</td>
            <td class="mono">${m.webhookId ? html`<a href=${`#/event/${encodeURIComponent(m.webhookId)}`}>${m.webhookId}</a>` : '-'}</td>
            <td>${dash(m.type)}</td><td>${dash(m.connectionId)}</td><td class="mono">${dash(m.receivedAt)}</td><td>${m.receiveCount}</td>
            <td data-test="reason">${dash(m.lastError)}</td>
            ${!readOnly && html`<td><button class="secondary" data-test="redrive-one" onClick=${() => redrive({ messageIds: [m.messageId] }, `message ${m.messageId}`)}>Redrive</button></td>`}
          </tr>`,
        )}
      </tbody>
    </table>`}
  </section>`;
}

function Replay() {
  const [form, setForm] = useState({ connection: '', since: '', until: '' });
  const { ask, view } = useConfirm();
  const field = (name, label, placeholder) => html`<label>${label}<input name=${name} value=${form[name]} placeholder=${placeholder} onInput=${(e) => setForm({ ...form, [name]: e.currentTarget.value })} /></label>`;
  return html`<section>
    <h2>Replay</h2>
    <p class="muted">Publishes a connection's stored events to the bus again, with its current state. State is not re-applied and no transition is sent, so notifications do not fire twice.</p>
    <form class="action" onSubmit=${(e) => {
      e.preventDefault();
      ask(`Publish the events of ${form.connection} from ${form.since}${form.until ? ` to ${form.until}` : ''} to the bus again?`, async () => {
        const r = await api('/api/replay', form);
        return `Replayed ${r.replayed} event(s)${r.rejected ? `; ${r.rejected} rejected by the bus` : ''}${r.bodyMissing ? `; ${r.bodyMissing} not replayed: their stored body is gone (expired)` : ''}.`;
      });
    }}>
      ${field('connection', 'Connection', 'conn_42')} ${field('since', 'From (ISO time)', '2026-12-01T00:00:00Z')} ${field('until', 'To (ISO time, optional)', '')}
      <button type="submit" data-test="replay" disabled=${!form.connection || !form.since}>Replay…</button>
    </form>
    ${view}
  </section>`;
}

function Health() {
  const { data, error } = useApi('/api/health', 5000);
  return html`<section>
    <h2>Alarms and queues</h2>
    <${Error_} text=${error} />
    ${data &&
    html`<div class="cards">
        <div class="card"><div class="value" data-test="queue-depth">${data.queue.visible}</div><div class="label">waiting in the webhook queue</div></div>
        <div class="card"><div class="value">${data.queue.inFlight}</div><div class="label">in flight</div></div>
        <div class="card"><div class="value">${data.queue.oldestAgeSeconds === null ? '-' : `${data.queue.oldestAgeSeconds} s`}</div><div class="label">oldest message age${data.queue.oldestAgeSeconds === null ? ' (a CloudWatch metric: AWS only)' : ''}</div></div>
        <div class="card"><div class="value" data-test="dlq-depth">${data.deadLetterQueue.visible + data.deadLetterQueue.inFlight}</div><div class="label">dead letters</div></div>
      </div>
      <h3>Alarms in ALARM</h3>
      ${data.alarms.length === 0
        ? html`<p class="muted" data-test="no-alarms">None: every alarm is OK or has too little data.</p>`
        : html`<table data-test="alarms"><thead><tr><th>alarm</th><th>since</th><th>reason</th></tr></thead><tbody>
            ${data.alarms.map((a) => html`<tr key=${a.alarmName}><td><${Badge} value="ALARM" /> ${a.alarmName}</td><td class="mono">${dash(a.since)}</td><td>${dash(a.reason)}</td></tr>`)}
          </tbody></table>`}`}
  </section>`;
}

function SendTest({ info }) {
  const [form, setForm] = useState({ type: 'assets.updated', ids: '', connection: '' });
  const { ask, view } = useConfirm();
  const field = (name, label, placeholder) => html`<label>${label}<input name=${name} value=${form[name]} placeholder=${placeholder} onInput=${(e) => setForm({ ...form, [name]: e.currentTarget.value })} /></label>`;
  return html`<section>
    <h2>Send a test webhook</h2>
    <p class="muted">Posts <code>{"event": type, "body": [ids]}</code> to <code>${info.webhookUrl}</code>, signed as Makini signs it (<code>X-Webhook-Signature</code>, base64 HMAC-SHA256 of the body) with the stack's signing secret.</p>
    <form class="action" onSubmit=${(e) => {
      e.preventDefault();
      ask(`Send a signed ${form.type} webhook to ${info.target}?`, async () => {
        const r = await api('/api/send', form);
        return `${r.url} answered ${r.status} ${JSON.stringify(r.body)}`;
      });
    }}>
      ${field('type', 'Event', 'assets.updated')} ${field('ids', 'Record ids (comma separated; default two random)', 'id-1,id-2')} ${field('connection', 'Connection (optional: per-connection URL)', 'conn_42')}
      <button type="submit" data-test="send">Send…</button>
    </form>
    ${view}
  </section>`;
}

const VIEWS = [
  ['#/events', 'Event stream'],
  ['#/connections', 'Connections'],
  ['#/dlq', 'Dead-letter queue'],
  ['#/replay', 'Replay', true],
  ['#/health', 'Alarms and queues'],
  ['#/send', 'Send a test webhook', true],
];

function App() {
  const { data: info, error } = useApi('/api/info');
  const hash = useHash();
  if (error) return html`<main><${Error_} text=${error} /></main>`;
  if (!info) return html`<p class="loading">Loading…</p>`;
  const views = VIEWS.filter(([, , mutating]) => !(mutating && info.readOnly));
  let view;
  if (hash.startsWith('#/event/')) view = html`<${EventDetail} id=${decodeURIComponent(hash.slice('#/event/'.length))} key=${hash} />`;
  else if (hash === '#/connections') view = html`<${Connections} />`;
  else if (hash === '#/dlq') view = html`<${DeadLetters} readOnly=${info.readOnly} />`;
  else if (hash === '#/replay' && !info.readOnly) view = html`<${Replay} />`;
  else if (hash === '#/health') view = html`<${Health} />`;
  else if (hash === '#/send' && !info.readOnly) view = html`<${SendTest} info=${info} />`;
  else view = html`<${Events} />`;
  const current = hash.startsWith('#/event/') ? '#/events' : hash;
  return html`
    <header>
      <h1>makini-webhooks console</h1>
      <span class="target">${info.target}${info.readOnly ? ' · read-only' : ''}</span>
      <nav>${views.map(([href, label]) => html`<a href=${href} class=${current === href ? 'active' : ''}>${label}</a>`)}</nav>
    </header>
    <main>${view}</main>`;
}

render(html`<${App} />`, document.getElementById('app'));
