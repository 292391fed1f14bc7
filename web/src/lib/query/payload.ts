/** A logged event's request and response as the log detail shows them. */

import type { LogItem } from "./types";

/** A chat message's content as text: a string, or the text parts of a list of parts, else JSON. */
export function messageText(content: unknown): string {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => {
        if (typeof part === "string") return part;
        if (part && typeof part === "object") {
          const p = part as Record<string, unknown>;
          if (typeof p.text === "string") return p.text;
          return `[${typeof p.type === "string" ? p.type : "part"}]`;
        }
        return String(part);
      })
      .join("\n");
  }
  return prettyJson(content);
}

export function prettyJson(v: unknown): string {
  if (typeof v === "string") {
    try {
      return JSON.stringify(JSON.parse(v), null, 2);
    } catch {
      return v;
    }
  }
  try {
    return JSON.stringify(v, null, 2) ?? String(v);
  } catch {
    return String(v);
  }
}

export interface ChatMessage {
  role: string;
  text: string;
}

/** The messages of a logged request (OpenAI shape), if it has them. */
export function requestMessages(request: unknown): ChatMessage[] {
  if (!request || typeof request !== "object") return [];
  const msgs = (request as { messages?: unknown }).messages;
  if (!Array.isArray(msgs)) return [];
  return msgs.map((m) => {
    const o = (m && typeof m === "object" ? m : {}) as Record<string, unknown>;
    return { role: typeof o.role === "string" ? o.role : "?", text: messageText(o.content) };
  });
}

/** The text of a logged response: `content`, or the first choice's message, if there is one. */
export function responseText(response: unknown): string | null {
  if (!response || typeof response !== "object") return typeof response === "string" ? response : null;
  const r = response as Record<string, unknown>;
  if (r.content !== undefined && r.content !== null) return messageText(r.content);
  const choices = r.choices;
  if (Array.isArray(choices) && choices[0] && typeof choices[0] === "object") {
    const msg = (choices[0] as { message?: { content?: unknown } }).message;
    if (msg?.content !== undefined && msg.content !== null) return messageText(msg.content);
  }
  return null;
}

/** An object without the given keys (null when nothing is left). */
export function without(o: unknown, keys: string[]): Record<string, unknown> | null {
  if (!o || typeof o !== "object" || Array.isArray(o)) return null;
  const rest = Object.fromEntries(Object.entries(o as Record<string, unknown>).filter(([k]) => !keys.includes(k)));
  return Object.keys(rest).length ? rest : null;
}

export function tokensText(item: Pick<LogItem, "prompt_tokens" | "completion_tokens" | "total_tokens">): string {
  if (item.total_tokens === null && item.prompt_tokens === null && item.completion_tokens === null) return "–";
  const total = item.total_tokens ?? (item.prompt_tokens ?? 0) + (item.completion_tokens ?? 0);
  return `${total}`;
}
