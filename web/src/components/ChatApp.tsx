"use client";

import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { useCallback, useState } from "react";
import type { Conversation, StreamEvent } from "@/lib/api";
import { ApiError, isAbort } from "@/lib/http";
import { conversationTitle } from "@/lib/format";
import { useConversation } from "@/hooks/useConversation";
import { useConversations } from "@/hooks/useConversations";
import { allModelIds, useModels } from "@/hooks/useModels";
import { useReplyStream } from "@/hooks/useReplyStream";
import { useStickToBottom } from "@/hooks/useStickToBottom";
import { useApp } from "./AppContext";
import { Composer } from "./Composer";
import { ConversationList } from "./ConversationList";
import { MessageItem } from "./MessageView";
import { ModelPicker } from "./ModelPicker";

const PAGE_SIZE = 20;

let localSeq = 0;

export function ChatApp() {
  const { client } = useApp();
  const router = useRouter();
  const params = useSearchParams();
  const currentId = params.get("id");

  const { models, error: modelsError, model, setModel, prefer: preferModel } = useModels(client);
  const convs = useConversations(client, PAGE_SIZE);

  const [input, setInput] = useState("");
  const [banner, setBanner] = useState<string | null>(null);
  const reply = useReplyStream(client);
  const conversation = useConversation(client, currentId, {
    onSwitch: reply.stopUnless,
    onOpen: (id) => {
      setBanner(null);
      if (id) scroll.stick();
    },
    onLoaded: (d) => preferModel(d.model),
  });
  const { detail, setDetail, patchMessage } = conversation;
  const detailIdRef = conversation.shownId;
  const detailLoading = conversation.loading;
  const detailError = conversation.error;
  // Keep the newest text in view while the reader is at the bottom.
  const scroll = useStickToBottom(detail);

  // --- helpers -------------------------------------------------------------------------------

  /** After a stop, read back what the server stored (status, partial text, stats, ids). */
  const syncStored = useCallback(
    async (conversationId: string) => {
      for (let i = 0; i < 15; i++) {
        await new Promise((r) => setTimeout(r, 300));
        if (detailIdRef.current !== conversationId) return;
        try {
          const d = await client.getConversation(conversationId);
          if (d.messages.some((m) => m.status === "streaming")) continue;
          if (reply.active.current?.conversationId === conversationId) return; // a new turn began
          setDetail((cur) => (cur && cur.id === conversationId ? { ...cur, title: d.title, messages: d.messages } : cur));
          return;
        } catch {
          return;
        }
      }
    },
    [client, detailIdRef, reply.active, setDetail],
  );

  // --- actions -------------------------------------------------------------------------------

  async function send() {
    const text = input;
    if (!text.trim() || reply.active.current || reply.sending.current || !model) return;
    reply.sending.current = true;
    try {
      await sendTurn(text);
    } finally {
      reply.sending.current = false;
    }
  }

  async function sendTurn(text: string) {
    setBanner(null);
    let conversationId = currentId;
    if (!conversationId || detail?.id !== conversationId) {
      if (conversationId && detail?.id !== conversationId) return; // still loading
      try {
        const conv = await client.createConversation();
        conversationId = conv.id;
        detailIdRef.current = conv.id;
        setDetail({ id: conv.id, title: conv.title, messages: [] });
        convs.touch(conv);
        router.replace(`/?id=${encodeURIComponent(conv.id)}`);
      } catch (e) {
        setBanner(`Could not start a conversation: ${(e as Error).message}`);
        return;
      }
    }
    const cid = conversationId;
    const seq = ++localSeq;
    let userId = `local-user-${seq}`;
    let replyId = `local-reply-${seq}`;
    const now = new Date().toISOString();
    setDetail((d) =>
      d && d.id === cid
        ? {
            ...d,
            messages: [
              ...d.messages,
              { id: userId, role: "user", content: text, status: "complete", created_at: now },
              { id: replyId, role: "assistant", content: "", status: "streaming", created_at: now, model },
            ],
          }
        : d,
    );
    setInput("");
    scroll.stick();
    const active = reply.begin(cid, replyId);
    let started = false;
    try {
      for await (const ev of reply.stream(active, text, model)) {
        handle(ev);
      }
    } catch (e) {
      if (isAbort(e) || active.stopped) {
        patchMessage(cid, replyId, (m) => (m.status === "streaming" ? { ...m, status: "cancelled" } : m));
        reply.setAnnounce("Reply stopped");
        void syncStored(cid);
      } else if (!started) {
        // Refused before anything was stored (e.g. unknown model): take the message back.
        setDetail((d) =>
          d && d.id === cid ? { ...d, messages: d.messages.filter((m) => m.id !== userId && m.id !== replyId) } : d,
        );
        setInput((cur) => cur || text);
        setBanner((e as Error).message);
      } else {
        const err = e as ApiError;
        patchMessage(cid, replyId, (m) => ({
          ...m,
          status: "error",
          error: { code: err.code ?? "stream_closed", message: err.message },
        }));
      }
    } finally {
      reply.end(active);
    }

    function handle(ev: StreamEvent) {
      switch (ev.type) {
        case "start": {
          started = true;
          const oldUser = userId;
          const oldReply = replyId;
          userId = ev.user_message_id;
          replyId = ev.message_id;
          active.messageId = ev.message_id;
          setDetail((d) =>
            d && d.id === cid
              ? {
                  ...d,
                  title: ev.title || d.title,
                  messages: d.messages.map((m) =>
                    m.id === oldUser
                      ? { ...m, id: ev.user_message_id }
                      : m.id === oldReply
                        ? { ...m, id: ev.message_id, model: ev.model, provider: ev.provider }
                        : m,
                  ),
                }
              : d,
          );
          convs.touch({ id: cid, title: ev.title, model: ev.model });
          break;
        }
        case "delta":
          patchMessage(cid, replyId, (m) => ({ ...m, content: m.content + ev.content }));
          break;
        case "done":
          patchMessage(cid, replyId, (m) => ({
            ...m,
            status: ev.status,
            usage: ev.usage ?? null,
            cost_usd: ev.cost_usd ?? null,
            latency_ms: ev.latency_ms ?? null,
            ttft_ms: ev.ttft_ms ?? null,
            model: ev.model ?? m.model,
            inference_event_id: ev.inference_event_id ?? null,
          }));
          reply.setAnnounce(ev.status === "complete" ? "Reply finished" : "Reply stopped");
          break;
        case "error":
          patchMessage(cid, replyId, (m) => ({
            ...m,
            status: "error",
            error: { code: ev.code, message: ev.message },
            usage: ev.usage ?? null,
            cost_usd: ev.cost_usd ?? null,
            latency_ms: ev.latency_ms ?? null,
            ttft_ms: ev.ttft_ms ?? null,
          }));
          reply.setAnnounce(`Reply failed: ${ev.message}`);
          break;
      }
    }
  }

  function newConversation() {
    setInput("");
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
  const canSend = !!model && !detailLoading && !detailError;

  return (
    <div className="chat-layout">
      <ConversationList
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
      <section className="chat-main" aria-labelledby="conversation-title">
        <div className="chat-header">
          <h1 id="conversation-title">{title}</h1>
        </div>
        <div className="messages" ref={scroll.ref} onScroll={scroll.onScroll}>
          {detailLoading && (
            <p className="muted pad" role="status">
              Loading the conversation…
            </p>
          )}
          {detailError && (
            <div className="alert" role="alert">
              {detailError}
            </div>
          )}
          {!detailLoading && !detailError && (!detail || detail.messages.length === 0) && (
            <div className="empty-state">
              <p>Pick a model below and send a message. Replies stream in as they are written.</p>
              {models && allModelIds(models).size === 1 && models.providers.some((g) => g.models.some((m) => m.demo)) && (
                <p className="muted">
                  Only the offline demo model is available. Add a provider key in{" "}
                  <Link href="/settings/">Settings</Link> to talk to a real model.
                </p>
              )}
            </div>
          )}
          {detail?.messages.map((m) => <MessageItem key={m.id} m={m} />)}
        </div>
        <div className="sr-only" aria-live="polite">
          {reply.announce}
        </div>
        {banner && (
          <div className="alert banner" role="alert">
            {banner}
          </div>
        )}
        <div className="composer-area">
          <ModelPicker models={models} value={model} onChange={setModel} disabled={reply.streaming} error={modelsError} />
          <Composer
            value={input}
            onChange={setInput}
            onSend={() => void send()}
            onStop={reply.stop}
            streaming={reply.streaming}
            canSend={canSend}
          />
        </div>
      </section>
    </div>
  );
}
