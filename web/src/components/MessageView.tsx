"use client";

import Link from "next/link";
import type { Message } from "@/lib/api";
import { errorHint, replyStats } from "@/lib/format";
import { CopyButton } from "./CopyButton";
import { Markdown } from "./Markdown";

function modelLabel(m: Message): string {
  return m.model ?? "assistant";
}

function ReplyFooter({ m }: { m: Message }) {
  const stats = m.status === "streaming" ? [] : replyStats(m);
  return (
    <footer className="msg-footer">
      {m.status === "cancelled" && (
        <span className="badge warn" data-testid="reply-status">
          Stopped: partial reply
        </span>
      )}
      {m.status === "streaming" && (
        <span className="badge" data-testid="reply-status">
          Writing…
        </span>
      )}
      {stats.length > 0 && (
        <dl className="stats" data-testid="reply-stats">
          {stats.map((s) => (
            <div key={s.label}>
              <dt>{s.label}</dt>
              <dd>{s.value}</dd>
            </div>
          ))}
        </dl>
      )}
      {m.content && m.status !== "streaming" && <CopyButton text={m.content} label="Copy reply" />}
      {m.inference_event_id && m.status !== "streaming" && (
        <Link
          href={`/logs/?id=${encodeURIComponent(m.inference_event_id)}`}
          className="small log-link"
          data-testid="reply-log-link"
        >
          Log
        </Link>
      )}
    </footer>
  );
}

function ReplyError({ m, onRetry }: { m: Message; onRetry?: () => void }) {
  const code = m.error?.code ?? null;
  const message = m.error?.message || "Unknown error";
  // The API's own message may already say what to do.
  const hint = /settings/i.test(message) ? null : errorHint(code);
  const needsSettings = code === "provider_auth_failed" || code === "provider_unreachable" || code === "model_not_found";
  return (
    <div className="alert" role="alert" data-testid="reply-error">
      <strong>The reply failed.</strong> <span className="error-message">{message}</span>
      {code && <code className="error-code">{code}</code>}
      {(hint || needsSettings) && (
        <p className="hint">
          {hint} {needsSettings && <Link href="/settings/">Open Settings</Link>}
        </p>
      )}
      {onRetry && (
        <button type="button" className="btn" onClick={onRetry} data-testid="retry">
          Retry
        </button>
      )}
    </div>
  );
}

/** One message; a failed reply offers Retry when `onRetry` is given (re-sends its user message). */
export function MessageItem({ m, onRetry }: { m: Message; onRetry?: () => void }) {
  if (m.role === "user") {
    return (
      <article className="msg user" data-role="user" aria-label="You">
        <div className="msg-body plain">{m.content}</div>
        <footer className="msg-footer">
          <CopyButton text={m.content} label="Copy message" />
        </footer>
      </article>
    );
  }
  if (m.role === "system") {
    return (
      <article className="msg system" data-role="system" aria-label="System">
        <div className="msg-body plain">{m.content}</div>
      </article>
    );
  }
  return (
    <article
      className={`msg assistant status-${m.status}`}
      data-role="assistant"
      data-status={m.status}
      data-message-id={m.id}
      aria-label={`Reply from ${modelLabel(m)}`}
      aria-busy={m.status === "streaming" || undefined}
    >
      <header className="msg-head">{modelLabel(m)}</header>
      <div className="msg-body" data-testid="reply-text">
        {m.content ? <Markdown text={m.content} /> : m.status === "streaming" ? <span className="typing">…</span> : null}
      </div>
      {m.status === "error" && <ReplyError m={m} onRetry={onRetry} />}
      <ReplyFooter m={m} />
    </article>
  );
}
