"use client";

import { useCallback, useEffect, useRef, useState } from "react";
import type { ChatClient, ModelsResponse } from "@/lib/api";
import { useFetch } from "./useFetch";

let visits = 0;

export function allModelIds(models: ModelsResponse | null): Set<string> {
  return new Set((models?.providers ?? []).flatMap((g) => g.models.map((m) => m.id)));
}

/**
 * The models on offer (read through SWR, afresh on every visit) and the one picked: the open
 * conversation's (`prefer`) once the list knows it, else the one picked before, else the default.
 */
export function useModels(client: ChatClient) {
  const [visit] = useState(() => ++visits);
  const { data, error } = useFetch(["models", visit], () => client.listModels());
  const models = data ?? null;
  const [model, setModel] = useState("");
  const known = useRef<ModelsResponse | null>(null);
  known.current = models;
  // The model the open conversation last used: picked once the model list knows it.
  const preferred = useRef<string | null>(null);

  useEffect(() => {
    if (!models) return;
    const ids = allModelIds(models);
    const p = preferred.current;
    setModel((cur) => (p && ids.has(p) ? p : cur && ids.has(cur) ? cur : (models.default_model ?? "")));
  }, [models]);

  const prefer = useCallback((id: string | null) => {
    preferred.current = id;
    if (id && allModelIds(known.current).has(id)) setModel(id);
  }, []);

  return { models, error: error ? `Could not load the models: ${error.message}` : null, model, setModel, prefer };
}
