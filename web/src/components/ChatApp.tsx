"use client";

import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { useRef, useState, useSyncExternalStore } from "react";
import type { Conversation, Message, ModelsResponse } from "@/lib/api";
import { ApiError } from "@/lib/http";
import { conversationTitle } from "@/lib/format";
import { useChatTurn } from "@/hooks/useChatTurn";
import { useConversation } from "@/hooks/useConversation";
import { useConversations } from "@/hooks/useConversations";
import { useDocumentTitle } from "@/hooks/useDocumentTitle";
import { allModelIds, useModels } from "@/hooks/useModels";
import { useReplyStream } from "@/hooks/useReplyStream";
import { useSession } from "@/hooks/useSession";
import { useStickToBottom } from "@/hooks/useStickToBottom";
import { useApp } from "./AppContext";
import { Composer } from "./Composer";
import { ConversationList } from "./ConversationList";
import { MessageItem } from "./MessageView";
import { ModelPicker } from "./ModelPicker";

const PAGE_SIZE = 20;
/** Below this width the conversation list is a drawer over the chat (as in globals.css). */
const NARROW = "(max-width: 720px)";

function subscribeNarrow(onChange: () => void): () => void {
  const mq = window.matchMedia(NARROW);
  mq.addEventListener("change", onChange);
  return () => mq.removeEventListener("change", onChange);
}

/** True at phone width: the list is a drawer, closed until the header's button opens it. */
function useNarrow(): boolean {
  return useSyncExternalStore(
    subscribeNarrow,
    () => window.matchMedia(NARROW).matches,
    () => false,
  );
}

export function ChatApp() {
  const { client } = useApp();
  // Viewers read; sending needs the member role (the chat API refuses a viewer anyway).
  const mayChat = useSession().can("member");
  const router = useRouter();
  const params = useSearchParams();
  const currentId = params.get("id");
  const narrow = useNarrow();
  // The reader's choice; by default the list shows beside the chat and is a closed drawer on a phone.
  const [listChoice, setListChoice] = useState<boolean | null>(null);
  const listOpen = listChoice ?? !narrow;
  const toggleRef = useRef<HTMLButtonElement>(null);
  function closeList() {
    setListChoice(false);
    toggleRef.current?.focus();
  }

  const { models, error: modelsError, model, setModel, prefer: preferModel } = useModels(client);
  const convs = useConversations(client, PAGE_SIZE);
  const reply = useReplyStream(client);
  const conversation = useConversation(client, currentId, {
    onSwitch: reply.leaveUnless,
    onOpen: (id) => {
      turn.dismiss();
      if (id) scroll.stick();
    },
    onLoaded: (d) => preferModel(d.model),
  });
  const { detail, setDetail } = conversation;
  // Keep the newest text in view while the reader is at the bottom.
  const scroll = useStickToBottom(detail);
  const turn = useChatTurn({
    client,
    currentId,
    conversation,
    reply,
    model,
    touch: convs.touch,
    opened: (id) => router.replace(`/?id=${encodeURIComponent(id)}`),
    stick: scroll.stick,
  });

  /** Why only the demo model is offered when a configured provider fails its connection check. */
  function failingNote(m: ModelsResponse): string | null {
    const failing = m.providers.find((g) => g.state === "failing");
    if (!failing) return null;
    return `Only the offline demo model is available: ${failing.label} is not working (${failing.reason ?? "its connection check failed"}). Fix it in`;
  }

  /** Retry for the last reply when it failed: sends its user message again (the API merges it). */
  function retryOf(all: Message[], i: number): (() => void) | undefined {
    const m = all[i];
    if (!mayChat || reply.streaming || i !== all.length - 1 || m.role !== "assistant" || m.status !== "error") return;
    const asked = all
      .slice(0, i)
      .reverse()
      .find((x) => x.role === "user");
    if (!asked) return;
    return () => void turn.send(asked.content);
  }

  function newConversation() {
    turn.setInput("");
    router.push("/");
  }

  async function rename(id: string, title: string) {
    const conv = await client.renameConversation(id, title);
    convs.update(conv);
    setDetail((d) => (d && d.id === id ? { ...d, title: conv.title } : d));
  }

  async function remove(c: Conversation) {
    if (!window.confirm(`Delete “${conversationTitle(c.title)}” and all its messages?`)) return;
    try {
      await client.deleteConversation(c.id);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) {
        convs.setError(`Could not delete: ${(e as Error).message}`);
        return;
      }
    }
    convs.remove(c.id);
    if (c.id === currentId) router.push("/");
  }

  // --- render --------------------------------------------------------------------------------

  const title = detail ? conversationTitle(detail.title) : currentId ? "" : "New conversation";
  useDocumentTitle(title);
  const canSend = !!model && !conversation.loading && !conversation.error;

  return (
    <div className={listOpen ? "chat-layout" : "chat-layout list-closed"}>
      <ConversationList
        id="conversation-list"
        open={listOpen}
        drawer={narrow}
        onClose={closeList}
        items={convs.items}
        currentId={currentId}
        hasMore={convs.hasMore}
        loading={convs.loading}
        error={convs.error}
        onLoadMore={convs.loadMore}
        onRename={rename}
        onDelete={(c) => void remove(c)}
        onNew={newConversation}
      />
      {narrow && listOpen && <div className="drawer-backdrop" aria-hidden="true" onClick={closeList} />}
      <section className="chat-main" aria-labelledby="conversation-title">
        <div className="chat-header">
          <button
            ref={toggleRef}
            type="button"
            className="icon-btn list-toggle"
            aria-controls="conversation-list"
            aria-expanded={listOpen}
            aria-label="Conversations"
            title={listOpen ? "Hide the conversations" : "Show the conversations"}
            data-testid="list-toggle"
            onClick={() => setListChoice(!listOpen)}
          >
            ☰
          </button>
          <h1 id="conversation-title">{title}</h1>
        </div>
        <div className="messages" ref={scroll.ref} onScroll={scroll.onScroll}>
          {conversation.loading && (
            <p className="muted pad" role="status">
              Loading the conversation…
            </p>
          )}
          {conversation.error && (
            <div className="alert" role="alert">
              {conversation.error}
            </div>
          )}
          {!conversation.loading && !conversation.error && (!detail || detail.messages.length === 0) && (
            <div className="empty-state">
              <p>Pick a model below and send a message. Replies stream in as they are written.</p>
              {models && allModelIds(models).size === 1 && models.providers.some((g) => g.models.some((m) => m.demo)) && (
                <p className="muted" data-testid="demo-only">
                  {failingNote(models) ?? "Only the offline demo model is available. Add a provider key in"}{" "}
                  <Link href="/settings/">Settings</Link> to talk to a real model.
                </p>
              )}
            </div>
          )}
          {detail?.messages.map((m, i, all) => (
            <MessageItem key={m.id} m={m} onRetry={retryOf(all, i)} />
          ))}
        </div>
        <div className="sr-only" aria-live="polite">
          {turn.announce}
        </div>
        {turn.banner && (
          <div className="alert banner" role="alert">
            {turn.banner}
          </div>
        )}
        {mayChat ? (
          <div className="composer-area">
            <ModelPicker models={models} value={model} onChange={setModel} disabled={reply.streaming} error={modelsError} />
            <Composer
              value={turn.input}
              onChange={turn.setInput}
              onSend={() => void turn.send()}
              onStop={reply.stop}
              streaming={reply.streaming}
              canSend={canSend}
            />
          </div>
        ) : (
          <p className="composer-area muted" data-testid="viewer-note">
            Your role (viewer) reads conversations, logs and metrics; sending messages needs the member role.
          </p>
        )}
      </section>
    </div>
  );
}
