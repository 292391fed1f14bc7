"use client";

import { memo } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
import remarkGfm from "remark-gfm";
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import python from "highlight.js/lib/languages/python";
import sql from "highlight.js/lib/languages/sql";
import typescript from "highlight.js/lib/languages/typescript";
import yaml from "highlight.js/lib/languages/yaml";
import { CopyButton } from "./CopyButton";

// Only these grammars are bundled (highlight.js core, not its all-languages build).
hljs.registerLanguage("bash", bash);
hljs.registerLanguage("javascript", javascript);
hljs.registerLanguage("json", json);
hljs.registerLanguage("python", python);
hljs.registerLanguage("sql", sql);
hljs.registerLanguage("typescript", typescript);
hljs.registerLanguage("yaml", yaml);

/** A fenced block's language from react-markdown's `language-xxx` class, if highlight.js knows it. */
function languageOf(className: string | undefined): string | null {
  const lang = /(?:^|\s)language-([\w+-]+)/.exec(className ?? "")?.[1]?.toLowerCase();
  return lang && hljs.getLanguage(lang) ? lang : null;
}

/** A fenced code block: highlighted when its language is one of the registered ones, with Copy. */
function CodeBlock({ className, code: source }: { className?: string; code: string }) {
  const code = source.replace(/\n$/, "");
  const lang = languageOf(className);
  return (
    <div className="code-block">
      <CopyButton text={code} label="Copy code" />
      <pre>
        {lang ? (
          // highlight.js escapes the source text; its output holds only its own <span class="hljs-*">.
          <code
            className={`hljs language-${lang}`}
            dangerouslySetInnerHTML={{ __html: hljs.highlight(code, { language: lang, ignoreIllegals: true }).value }}
          />
        ) : (
          <code className={className}>{code}</code>
        )}
      </pre>
    </div>
  );
}

const components: Components = {
  // Links open elsewhere and pass no referrer or opener.
  a: ({ node: _node, ...props }) => <a {...props} target="_blank" rel="noopener noreferrer nofollow" />,
  // A fenced block is <pre><code>: the block (with its own <pre>) replaces both.
  pre: ({ node, children }) => {
    const code = node?.children[0];
    if (code && code.type === "element" && code.tagName === "code") {
      const cls = code.properties?.className;
      const className = Array.isArray(cls) ? cls.join(" ") : typeof cls === "string" ? cls : undefined;
      const text = code.children.map((c) => (c.type === "text" ? c.value : "")).join("");
      return <CodeBlock className={className} code={text} />;
    }
    return <pre>{children}</pre>;
  },
};

/**
 * An assistant reply as Markdown (GitHub flavour). Safe by construction: raw HTML in the text is
 * dropped (no rehype-raw), and react-markdown's default URL filter removes javascript: links.
 * Fenced code blocks are highlighted (python, javascript, typescript, json, bash, sql, yaml) and
 * have a Copy button.
 */
export const Markdown = memo(function Markdown({ text }: { text: string }) {
  return (
    <div className="markdown">
      <ReactMarkdown remarkPlugins={[remarkGfm]} skipHtml components={components}>
        {text}
      </ReactMarkdown>
    </div>
  );
});
