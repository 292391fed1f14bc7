"use client";

import Link from "next/link";
import { useState, type FormEvent } from "react";
import type { Conversation } from "@/lib/api";
import { conversationTitle } from "@/lib/format";

interface Props {
  items: Conversation[];
  currentId: string | null;
  hasMore: boolean;
  loading: boolean;
  error: string | null;
  onLoadMore: () => void;
  onRename: (id: string, title: string) => Promise<void>;
  onDelete: (c: Conversation) => void;
  onNew: () => void;
}

export function ConversationList(props: Props) {
  const { items, currentId, hasMore, loading, error, onLoadMore, onRename, onDelete, onNew } = props;
  const [editing, setEditing] = useState<string | null>(null);
  const [draft, setDraft] = useState("");
  const [renameError, setRenameError] = useState<string | null>(null);

  async function submitRename(e: FormEvent, id: string) {
    e.preventDefault();
    if (!draft.trim()) {
      setRenameError("A title cannot be empty");
      return;
    }
    try {
      await onRename(id, draft.trim());
      setEditing(null);
      setRenameError(null);
    } catch (err) {
      setRenameError((err as Error).message);
    }
  }

  return (
    <aside className="sidebar" aria-label="Conversations">
      <button type="button" className="btn primary new-chat" onClick={onNew}>
        + New conversation
      </button>
      {error && (
        <p className="alert small" role="alert">
          {error}
        </p>
      )}
      <ul className="conv-list">
        {items.map((c) => {
          const title = conversationTitle(c.title);
          return (
            <li key={c.id} className={c.id === currentId ? "conv current" : "conv"}>
              {editing === c.id ? (
                <form className="rename" onSubmit={(e) => submitRename(e, c.id)}>
                  <label className="sr-only" htmlFor={`rename-${c.id}`}>
                    New title
                  </label>
                  <input
                    id={`rename-${c.id}`}
                    value={draft}
                    maxLength={200}
                    autoFocus
                    onChange={(e) => setDraft(e.target.value)}
                    onKeyDown={(e) => {
                      if (e.key === "Escape") {
                        setEditing(null);
                        setRenameError(null);
                      }
                    }}
                  />
                  <div className="row">
                    <button type="submit" className="btn small">
                      Save
                    </button>
                    <button
                      type="button"
                      className="btn small ghost"
                      onClick={() => {
                        setEditing(null);
                        setRenameError(null);
                      }}
                    >
                      Cancel
                    </button>
                  </div>
                  {renameError && (
                    <p className="field-error" role="alert">
                      {renameError}
                    </p>
                  )}
                </form>
              ) : (
                <>
                  <Link
                    href={`/?id=${encodeURIComponent(c.id)}`}
                    className="conv-link"
                    aria-current={c.id === currentId ? "page" : undefined}
                    title={title}
                  >
                    {title}
                  </Link>
                  <div className="conv-actions">
                    <button
                      type="button"
                      className="icon-btn"
                      aria-label={`Rename “${title}”`}
                      title="Rename"
                      onClick={() => {
                        setEditing(c.id);
                        setDraft(c.title);
                        setRenameError(null);
                      }}
                    >
                      ✎
                    </button>
                    <button
                      type="button"
                      className="icon-btn danger"
                      aria-label={`Delete “${title}”`}
                      title="Delete"
                      onClick={() => onDelete(c)}
                    >
                      ×
                    </button>
                  </div>
                </>
              )}
            </li>
          );
        })}
      </ul>
      {!loading && items.length === 0 && !error && <p className="muted small pad">No conversations yet.</p>}
      {loading && (
        <p className="muted small pad" role="status">
          Loading…
        </p>
      )}
      {hasMore && !loading && (
        <button type="button" className="btn ghost load-more" onClick={onLoadMore}>
          Load more
        </button>
      )}
    </aside>
  );
}
