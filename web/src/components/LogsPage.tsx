"use client";

import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { formatDuration, formatTime, formatUsd } from "@/lib/format";
import { logsViewFilters, logsViewHref, parseLogsView, type LogsView } from "@/lib/query/logsView";
import { tokensText } from "@/lib/query/payload";
import type { LogItem } from "@/lib/query/types";
import { windowRange } from "@/lib/query/windows";
import { useCursorPages, useFetch } from "@/hooks/useFetch";
import { useProject, useProjectQuery, withProject } from "@/hooks/useProject";
import { FilterBar } from "./FilterBar";
import { LogDetailView } from "./LogDetail";
import { QueryApiMissing } from "./QueryApiMissing";
import { StatusBadge } from "./StatusBadge";

const PAGE_SIZE = 25;
const NO_MODELS: string[] = [];

/** /logs/ (the list) and /logs/?id=... (one event): a static export has no page per id. */
export function LogsPage() {
  const query = useProjectQuery();
  const params = useSearchParams();
  const id = params.get("id");
  if (!query) return <QueryApiMissing page="Logs" />;
  return id ? <LogDetailView id={id} /> : <LogList />;
}


function LogList() {
  const query = useProjectQuery();
  const { project } = useProject();
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
    router.push(withProject(logsViewHref({ ...view, ...next }), project));
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
