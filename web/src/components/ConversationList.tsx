"use client";

import Link from "next/link";
import { useEffect, useRef, useState, type FormEvent } from "react";
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
  /** The element's id, for the chat header's toggle (aria-controls). */
  id: string;
  /** Shown (the header's toggle hides or shows it; on a phone it starts closed). */
  open: boolean;
  /** The list is a drawer over the chat (phone width): Esc and choosing a conversation close it. */
  drawer: boolean;
  onClose: () => void;
}

export function ConversationList(props: Props) {
  const { items, currentId, hasMore, loading, error, onLoadMore, onRename, onDelete, onNew } = props;
  const { id, open, drawer, onClose } = props;
  const ref = useRef<HTMLElement>(null);

  // An opened drawer takes the focus (its first control), so a keyboard reader is inside it.
  useEffect(() => {
    if (drawer && open) ref.current?.querySelector<HTMLElement>("button, a[href]")?.focus();
  }, [drawer, open]);
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
    <aside
      ref={ref}
      id={id}
      className={drawer ? `sidebar drawer${open ? " open" : ""}` : "sidebar"}
      aria-label="Conversations"
      hidden={!open}
      onKeyDown={(e) => {
        // Esc closes the drawer (and, handled here, does not also stop a streaming reply).
        if (drawer && e.key === "Escape" && !e.defaultPrevented && !editing) {
          e.preventDefault();
          onClose();
        }
      }}
    >
      <button
        type="button"
        className="btn primary new-chat"
        onClick={() => {
          onNew();
          if (drawer) onClose();
        }}
      >
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
                        e.preventDefault(); // cancels the rename only: no drawer close, no Stop
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
                    onClick={() => drawer && onClose()}
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
