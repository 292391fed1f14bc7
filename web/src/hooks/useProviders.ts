"use client";

import { useState } from "react";
import type { ChatClient } from "@/lib/api";
import { useFetch } from "./useFetch";

let visits = 0;

/** The chat's model providers (read through SWR, afresh on every visit); `reload` after a change. */
export function useProviders(client: ChatClient) {
  const [visit] = useState(() => ++visits);
  const { data, error, reload } = useFetch(["providers", visit], () => client.listProviders());
  return {
    data: data ?? null,
    error: error ? `Could not load the providers: ${error.message}` : null,
    reload: async () => {
      await reload();
    },
  };
}
