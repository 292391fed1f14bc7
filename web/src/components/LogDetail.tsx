"use client";

import Link from "next/link";
import type { ReactNode } from "react";
import { formatDuration, formatTime, formatUsd } from "@/lib/format";
import { prettyJson, requestMessages, responseText, without } from "@/lib/query/payload";
import type { LogDetail } from "@/lib/query/types";
import { useFetch } from "@/hooks/useFetch";
import { useProjectQuery } from "@/hooks/useProject";
import { StatusBadge } from "./StatusBadge";

function Fact({ label, children }: { label: string; children: ReactNode }) {
  if (children === null || children === undefined || children === "") return null;
  return (
    <div>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

/** One inference event: every field, its request and response, tool calls, redactions. */
export function LogDetailView({ id }: { id: string }) {
  const query = useProjectQuery();
  // A new id shows nothing until its event is read (no previous event on screen meanwhile).
  const detail = useFetch(query ? ["log", id] : null, () => query!.log(id), { keepPreviousData: false });
  const log: LogDetail | null = detail.data ?? null;
  const error = detail.error;

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
