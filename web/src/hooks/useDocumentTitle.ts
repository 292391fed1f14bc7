import { useEffect } from "react";

/** The browser tab shows the page's subject (a conversation's title): "<title> · Prism", or
 * "Prism" while it has none. The previous title comes back when the component goes away. */
export function useDocumentTitle(title: string | null | undefined): void {
  useEffect(() => {
    const before = document.title;
    document.title = title ? `${title} · Prism` : "Prism";
    return () => {
      document.title = before;
    };
  }, [title]);
}
