import { Suspense } from "react";
import { ChatApp } from "@/components/ChatApp";

// The chat. The open conversation is a query parameter (/?id=...): a static export cannot have
// a page per conversation id.
export default function ChatPage() {
  return (
    <Suspense fallback={null}>
      <ChatApp />
    </Suspense>
  );
}
