"use client";

import { useCallback, useLayoutEffect, useRef } from "react";

/**
 * Keep a scrolling box at its bottom while its content grows, as long as the reader is there:
 * scrolling up lets go, scrolling back down (or `stick()`) takes hold again.
 */
export function useStickToBottom<E extends HTMLElement = HTMLDivElement>(content: unknown) {
  const ref = useRef<E>(null);
  const atBottom = useRef(true);

  useLayoutEffect(() => {
    const el = ref.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [content]);

  const onScroll = useCallback(() => {
    const el = ref.current;
    if (el) atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  }, []);

  const stick = useCallback(() => {
    atBottom.current = true;
  }, []);

  return { ref, onScroll, stick };
}
