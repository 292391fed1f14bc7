"use client";

import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { useEffect, useMemo, useState, type FormEvent, type ReactNode } from "react";
import { formatDuration, formatTime, formatUsd } from "@/lib/format";
import { logsViewFilters, logsViewHref, parseLogsView, type LogsView } from "@/lib/query/logsView";
import { prettyJson, requestMessages, responseText, tokensText, without } from "@/lib/query/payload";
import type { LogDetail, LogItem } from "@/lib/query/types";
import { windowRange } from "@/lib/query/windows";
import { useCursorPages, useFetch } from "@/hooks/useFetch";
import { useApp } from "./AppContext";
import { FilterBar } from "./FilterBar";
import { QueryApiMissing } from "./QueryApiMissing";

const PAGE_SIZE = 25;
const NO_MODELS: string[] = [];

/** /logs/ (the list) and /logs/?id=... (one event): a static export has no page per id. */
export function LogsPage() {
  const { query } = useApp();
  const params = useSearchParams();
  const id = params.get("id");
  if (!query) return <QueryApiMissing page="Logs" />;
  return id ? <LogDetailView id={id} /> : <LogList />;
}

function StatusBadge({ status }: { status: string }) {
  const cls = status === "ok" ? "badge ok" : status === "error" ? "badge err" : "badge warn";
  return (
    <span className={cls} data-testid="log-status">
      {status}
    </span>
  );
}

function LogList() {
  const { query } = useApp();
  const router = useRouter();
  const params = useSearchParams();
  const view = useMemo(() => parseLogsView(new URLSearchParams(params.toString())), [params]);
  const viewKey = logsViewHref(view);
  // The window is fixed when the view changes, so later pages match the first.
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const range = useMemo(() => windowRange(view.window), [viewKey]);
  const list = useCursorPages(query ? ["logs", viewKey, range.from, range.to] : null, (cursor) =>
    query!.logs(range, logsViewFilters(view), PAGE_SIZE, cursor),
  );
  const items: LogItem[] = list.pages.flatMap((p) => p.items);
  const cursor = list.cursor;
  const loading = list.loading;
  const error = list.error
    ? `${list.pages.length ? "Could not load more" : "Could not load the logs"}: ${list.error.message}`
    : null;
  const { data: models = NO_MODELS } = useFetch(query ? ["logs-models", view.window] : null, () =>
    query!
      .summary(windowRange(view.window), {}, ["model"])
      .then((s) => s.groups.map((g) => g.key.model).filter((m): m is string => !!m).sort()),
  );
  const [conv, setConv] = useState(view.conversation_id);
  const [tag, setTag] = useState(view.tag);

  useEffect(() => {
    setConv(view.conversation_id);
    setTag(view.tag);
  }, [view.conversation_id, view.tag]);

  function go(next: Partial<LogsView>) {
    router.push(logsViewHref({ ...view, ...next }));
  }

  function applyText(e: FormEvent) {
    e.preventDefault();
    go({ conversation_id: conv.trim(), tag: tag.trim() });
  }

  const filtered = view.model || view.status || view.conversation_id || view.tag;

  return (
    <div className="page logs">
      <header className="page-head">
        <h1>Logs</h1>
        <p className="muted small">Every inference event, newest first.</p>
      </header>
      <FilterBar
        label="Log filters"
        idPrefix="l"
        window={view.window}
        onWindow={(w) => go({ window: w })}
        model={{ value: view.model, options: models, onChange: (m) => go({ model: m }) }}
        status={{ value: view.status, onChange: (st) => go({ status: st }) }}
        onSubmit={applyText}
      >
        <div className="field">
          <label htmlFor="l-conv">Conversation id</label>
          <input id="l-conv" value={conv} onChange={(e) => setConv(e.target.value)} spellCheck={false} />
        </div>
        <div className="field">
          <label htmlFor="l-tag">Tag</label>
          <input id="l-tag" value={tag} onChange={(e) => setTag(e.target.value)} spellCheck={false} />
        </div>
        <button type="submit" className="btn">
          Apply
        </button>
        {filtered && (
          <Link href={logsViewHref({ ...view, model: "", status: "", conversation_id: "", tag: "" })} className="small">
            Clear filters
          </Link>
        )}
      </FilterBar>

      {error && (
        <div className="alert" role="alert">
          {error}
        </div>
      )}

      {!loading && !error && items.length === 0 && (
        <div className="empty-state card" data-testid="logs-empty">
          <p>
            <strong>No inference events {filtered ? "match these filters" : "in this window"}.</strong>
          </p>
          <p className="small">Try a longer window{filtered ? " or clear the filters" : ""}.</p>
        </div>
      )}

      {items.length > 0 && (
        <div className="card table-card">
          <div className="table-scroll">
            <table className="data" data-testid="logs-table">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Model</th>
                  <th scope="col">Status</th>
                  <th scope="col" className="num">Latency</th>
                  <th scope="col" className="num">TTFT</th>
                  <th scope="col" className="num">Tokens</th>
                  <th scope="col" className="num">Cost</th>
                  <th scope="col">Conversation</th>
                </tr>
              </thead>
              <tbody>
                {items.map((it) => (
                  <tr key={it.id} data-log-id={it.id} data-created-at={it.created_at} data-status={it.status}>
                    <td>
                      <Link href={`/logs/?id=${encodeURIComponent(it.id)}`} title={it.created_at}>
                        {formatTime(it.created_at)}
                      </Link>
                    </td>
                    <td>{it.model}</td>
                    <td>
                      <StatusBadge status={it.status} />
                    </td>
                    <td className="num">{formatDuration(it.latency_ms)}</td>
                    <td className="num">{formatDuration(it.ttft_ms)}</td>
                    <td className="num">{tokensText(it)}</td>
                    <td className="num">{formatUsd(it.cost_usd)}</td>
                    <td className="mono small ellipsis">
                      {it.conversation_id ? (
                        <Link href={logsViewHref({ ...view, conversation_id: it.conversation_id })} title="Only this conversation">
                          {it.conversation_id}
                        </Link>
                      ) : (
                        "–"
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      )}
      <div className="row list-foot">
        {items.length > 0 && (
          <span className="muted small" data-testid="logs-count">
            {items.length} shown
          </span>
        )}
        {cursor && (
          <button type="button" className="btn" onClick={() => void list.loadMore()} disabled={loading}>
            Load more
          </button>
        )}
        {loading && (
          <span className="muted small" role="status">
            Loading…
          </span>
        )}
      </div>
    </div>
  );
}

function Fact({ label, children }: { label: string; children: ReactNode }) {
  if (children === null || children === undefined || children === "") return null;
  return (
    <div>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function LogDetailView({ id }: { id: string }) {
  const { query } = useApp();
  // A new id shows nothing until its event is read (no previous event on screen meanwhile).
  const detail = useFetch(query ? ["log", id] : null, () => query!.log(id), { keepPreviousData: false });
  const log: LogDetail | null = detail.data ?? null;
  const error = detail.error ? { code: (detail.error as Error & { code?: string }).code ?? "", message: detail.error.message } : null;

  const back = (
    <p className="small">
      <Link href="/logs/">← All logs</Link>
    </p>
  );

  if (error) {
    return (
      <div className="page logs">
        {back}
        <h1>Log</h1>
        <div className="alert" role="alert">
          {error.code === "log_not_found"
            ? "This inference event is not stored (yet): events reach the logs through the ingestion pipeline, which can take a few seconds."
            : `Could not load the event: ${error.message}`}
        </div>
      </div>
    );
  }
  if (!log) {
    return (
      <div className="page logs">
        {back}
        <p className="muted" role="status">
          Loading…
        </p>
      </div>
    );
  }

  const request = log.payload?.request;
  const response = log.payload?.response;
  const messages = requestMessages(request);
  const reply = responseText(response);
  const requestRest = without(request, ["messages"]);
  const responseRest = without(response, ["content"]);
  const redactions = Object.entries(log.redactions ?? {}).filter(([, n]) => n > 0);
  const metadata = log.metadata && Object.keys(log.metadata).length ? log.metadata : null;

  return (
    <div className="page logs log-detail">
      {back}
      <header className="page-head">
        <h1>
          {log.model} <StatusBadge status={log.status} />
        </h1>
        <p className="muted small mono">{log.id}</p>
      </header>

      {log.status === "error" && (log.error_type || log.error_message) && (
        <div className="alert" role="alert" data-testid="log-error">
          <strong>{log.error_type ?? "error"}</strong> {log.error_message}
        </div>
      )}

      <section className="card" aria-labelledby="facts-title">
        <h2 id="facts-title">Event</h2>
        <dl className="facts grid" data-testid="log-facts">
          <Fact label="Created">{formatTime(log.created_at)}</Fact>
          <Fact label="Started">{formatTime(log.ts_start)}</Fact>
          <Fact label="Ended">{formatTime(log.ts_end)}</Fact>
          <Fact label="Latency">{formatDuration(log.latency_ms)}</Fact>
          <Fact label="TTFT">{formatDuration(log.ttft_ms)}</Fact>
          <Fact label="Provider">{log.provider}</Fact>
          <Fact label="Model">{log.model}</Fact>
          <Fact label="Response model">{log.response_model}</Fact>
          <Fact label="Status">{log.status}</Fact>
          <Fact label="Finish reason">{log.finish_reason}</Fact>
          <Fact label="Prompt tokens">{log.prompt_tokens ?? null}</Fact>
          <Fact label="Completion tokens">{log.completion_tokens ?? null}</Fact>
          <Fact label="Total tokens">{log.total_tokens ?? null}</Fact>
          <Fact label="Cached tokens">{log.cached_tokens ?? null}</Fact>
          <Fact label="Reasoning tokens">{log.reasoning_tokens ?? null}</Fact>
          <Fact label="Cost">{log.cost_usd === null ? null : formatUsd(log.cost_usd)}</Fact>
          <Fact label="Cost note">{log.cost_note}</Fact>
          <Fact label="Conversation">
            {log.conversation_id ? (
              <Link href={`/?id=${encodeURIComponent(log.conversation_id)}`} className="mono">
                {log.conversation_id}
              </Link>
            ) : null}
          </Fact>
          <Fact label="Message">{log.message_id ? <span className="mono">{log.message_id}</span> : null}</Fact>
          <Fact label="Trace">{log.trace_id ? <span className="mono">{log.trace_id}</span> : null}</Fact>
          <Fact label="Span">{log.span_id ? <span className="mono">{log.span_id}</span> : null}</Fact>
          <Fact label="User">{log.user_id}</Fact>
          <Fact label="Tags">{log.tags?.length ? log.tags.join(", ") : null}</Fact>
          <Fact label="SDK">{log.sdk}</Fact>
          <Fact label="Payload">{log.payload_location ?? "not stored"}</Fact>
        </dl>
      </section>

      <section className="card" aria-labelledby="redactions-title" data-testid="log-redactions">
        <h2 id="redactions-title">Redactions</h2>
        {redactions.length ? (
          <ul className="inline-list">
            {redactions.map(([kind, n]) => (
              <li key={kind}>
                <span className="badge warn">
                  {kind}: {n}
                </span>
              </li>
            ))}
          </ul>
        ) : (
          <p className="muted small">Nothing was redacted.</p>
        )}
      </section>

      {log.payload_error && (
        <div className="alert warn" role="alert" data-testid="payload-error">
          <strong>The request and response could not be fetched.</strong> {log.payload_error}
        </div>
      )}

      {log.payload && (
        <>
          <section className="card" aria-labelledby="request-title" data-testid="log-request">
            <h2 id="request-title">Request</h2>
            {messages.length > 0 ? (
              <ol className="payload-messages">
                {messages.map((m, i) => (
                  <li key={i} className={`pmsg role-${m.role}`}>
                    <span className="pmsg-role">{m.role}</span>
                    <div className="pmsg-text">{m.text}</div>
                  </li>
                ))}
              </ol>
            ) : (
              !requestRest && <p className="muted small">No messages.</p>
            )}
            {requestRest && (
              <details>
                <summary>Parameters</summary>
                <pre className="json">{prettyJson(requestRest)}</pre>
              </details>
            )}
          </section>
          <section className="card" aria-labelledby="response-title" data-testid="log-response">
            <h2 id="response-title">Response</h2>
            {reply !== null ? <div className="pmsg-text">{reply}</div> : !responseRest && <p className="muted small">No response.</p>}
            {responseRest && (
              <details open={reply === null}>
                <summary>Other fields</summary>
                <pre className="json">{prettyJson(responseRest)}</pre>
              </details>
            )}
          </section>
        </>
      )}

      {log.tools.length > 0 && (
        <section className="card" aria-labelledby="tools-title" data-testid="log-tools">
          <h2 id="tools-title">Tool calls</h2>
          <ol className="tools">
            {log.tools.map((t) => (
              <li key={t.idx}>
                <p>
                  <strong>{t.name}</strong> <StatusBadge status={t.status} />{" "}
                  {t.latency_ms !== null && <span className="muted small">{formatDuration(t.latency_ms)}</span>}
                  {t.tool_call_id && <span className="muted small mono"> {t.tool_call_id}</span>}
                </p>
                {t.arguments !== null && t.arguments !== undefined && (
                  <>
                    <h3 className="small">Arguments</h3>
                    <pre className="json">{prettyJson(t.arguments)}</pre>
                  </>
                )}
                {t.result !== null && t.result !== undefined && (
                  <>
                    <h3 className="small">Result</h3>
                    <pre className="json">{prettyJson(t.result)}</pre>
                  </>
                )}
                {t.error && <p className="field-error">{t.error}</p>}
              </li>
            ))}
          </ol>
        </section>
      )}

      {metadata && (
        <section className="card" aria-labelledby="meta-title">
          <h2 id="meta-title">Metadata</h2>
          <pre className="json">{prettyJson(metadata)}</pre>
        </section>
      )}
    </div>
  );
}
