"use client";

import useSWR, { type Key, type SWRConfiguration } from "swr";
import useSWRInfinite from "swr/infinite";
import type { ApiError } from "@/lib/http";

/**
 * How the pages fetch (SWR): again whenever the key changes (a filter, or Refresh bumping a
 * counter in it), never behind the reader's back (no refetch on focus or reconnect, no retries),
 * and the last data stays on screen while the next loads.
 */
export const FETCH_OPTIONS: SWRConfiguration = {
  revalidateOnFocus: false,
  revalidateOnReconnect: false,
  shouldRetryOnError: false,
  keepPreviousData: true,
};

/** Loading, data and error of one request; a null key fetches nothing. */
export function useFetch<T>(key: Key, fetcher: () => Promise<T>, options: SWRConfiguration = {}) {
  const { data, error, isValidating, mutate } = useSWR<T, ApiError>(key, fetcher, { ...FETCH_OPTIONS, ...options });
  return { data, error: error ?? null, loading: isValidating, reload: mutate };
}

/**
 * A list a page at a time, following the API's `next_cursor`: `loadMore` fetches the next page
 * only (the pages already shown are not fetched again). A new `key` starts from the first page.
 */
export function useCursorPages<P extends { next_cursor: string | null }>(
  key: readonly unknown[] | null,
  fetchPage: (cursor: string | null) => Promise<P>,
) {
  const { data, error, isValidating, size, setSize } = useSWRInfinite<P, ApiError>(
    (index, previous: P | null) => {
      if (!key) return null;
      if (index === 0) return [...key, null];
      return previous?.next_cursor ? [...key, previous.next_cursor] : null;
    },
    (k: readonly unknown[]) => fetchPage(k[k.length - 1] as string | null),
    { ...FETCH_OPTIONS, keepPreviousData: false, revalidateFirstPage: false },
  );
  const pages = data ?? [];
  return {
    pages,
    cursor: pages.length ? pages[pages.length - 1].next_cursor : null,
    error: error ?? null,
    loading: isValidating,
    loadMore: () => setSize(size + 1),
  };
}
