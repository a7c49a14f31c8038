/**
 * `npm run docs:config`: writes docs/configuration.md and .env.example from
 * the one config schema (src/config.ts): names, defaults and ranges from the
 * zod schema, explanations from the TSDoc comments above each setting. The
 * committed files cannot drift from the code: test/docs/config-docs.test.ts
 * fails when they have. `--check` only compares, and exits 1 when stale.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import { z } from 'zod';
import { configSchema } from '../src/config';

const root = path.join(__dirname, '..');
export const configSource = path.join(root, 'src', 'config.ts');
export const configurationDoc = path.join(root, 'docs', 'configuration.md');
export const envExampleFile = path.join(root, '.env.example');

/** One setting as the documentation shows it. */
export interface SettingDoc {
  readonly name: string;
  /** The TSDoc text without its tags, on one line. */
  readonly description: string;
  /** The schema's default as an environment string; undefined when the setting has none. */
  readonly defaultValue: string | undefined;
  /** The `@defaultValue` tag's text, where the comment has one. */
  readonly defaultNote: string | undefined;
  /** What values are accepted, in words (`integer 0 … 65535`, one of …). */
  readonly accepts: string;
}

interface JsonSchemaProperty {
  type?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  pattern?: string;
  format?: string;
  enum?: unknown[];
}

/** The TSDoc comment of every property of the object literal given to `z.object` as `configSchema`. */
function readComments(sourceText: string): Map<string, { text: string; defaultTag?: string }> {
  const source = ts.createSourceFile(configSource, sourceText, ts.ScriptTarget.Latest, true);
  const comments = new Map<string, { text: string; defaultTag?: string }>();
  const visit = (node: ts.Node): void => {
    if (
      ts.isVariableDeclaration(node) &&
      node.name.getText(source) === 'configSchema' &&
      node.initializer &&
      ts.isCallExpression(node.initializer)
    ) {
      const shape = node.initializer.arguments[0];
      if (shape && ts.isObjectLiteralExpression(shape)) {
        for (const property of shape.properties) {
          if (!ts.isPropertyAssignment(property)) continue;
          const docs = ts.getJSDocCommentsAndTags(property).filter(ts.isJSDoc);
          const text = docs.map((d) => ts.getTextOfJSDocComment(d.comment) ?? '').join(' ');
          const tag = docs.flatMap((d) => [...(d.tags ?? [])]).find((t) => t.tagName.text === 'defaultValue');
          comments.set(property.name.getText(source), {
            text: oneLine(text),
            defaultTag: tag ? oneLine(ts.getTextOfJSDocComment(tag.comment) ?? '') : undefined,
          });
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return comments;
}

const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim();

function describeAccepted(p: JsonSchemaProperty): string {
  if (p.enum) return `one of ${p.enum.map((v) => `\`${String(v)}\``).join(', ')}`;
  if (p.type === 'integer' || p.type === 'number') {
    const kind = p.type === 'integer' ? 'integer' : 'number';
    if (p.minimum !== undefined && p.maximum !== undefined)
      return `${kind} ${p.minimum.toLocaleString('en-US')} … ${p.maximum.toLocaleString('en-US')}`;
    return kind;
  }
  if (p.format === 'uri') return 'URL';
  if (p.pattern) return `text matching \`${p.pattern}\``;
  if (p.minLength && p.minLength > 1) return `text, at least ${p.minLength} characters`;
  return 'text';
}

/**
 * Every setting in schema order, its comment read from `sourceText` (the
 * text of src/config.ts). Throws when a setting has no comment, or when
 * a comment's `@defaultValue` names a value other than the schema's default
 * (config.ts is the one place defaults live; its comments must agree with it).
 */
export function readSettings(sourceText = fs.readFileSync(configSource, 'utf8')): SettingDoc[] {
  const comments = readComments(sourceText);
  const jsonSchema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as {
    properties: Record<string, JsonSchemaProperty>;
  };
  return Object.keys(configSchema.shape).map((name) => {
    const comment = comments.get(name);
    if (!comment?.text) throw new Error(`src/config.ts: ${name} has no TSDoc comment to document it with`);
    const property = jsonSchema.properties[name] ?? {};
    const defaultValue = property.default === undefined ? undefined : String(property.default);
    const tagged = comment.defaultTag?.match(/^`([^`]*)`/)?.[1];
    if (tagged !== undefined && tagged !== defaultValue) {
      throw new Error(
        `src/config.ts: ${name}'s @defaultValue says ${tagged} but the schema's default is ${defaultValue ?? 'none'}`,
      );
    }
    return {
      name,
      description: comment.text,
      defaultValue,
      defaultNote: comment.defaultTag,
      accepts: describeAccepted(property),
    };
  });
}

/** Markdown table cells may not hold a bare `|`. */
const cell = (text: string): string => text.replace(/\|/g, '\\|');

function defaultCell(s: SettingDoc): string {
  if (s.defaultValue === undefined) return s.defaultNote ? cell(s.defaultNote) : 'unset';
  const extra = s.defaultNote?.replace(/^`[^`]*`\s*/, '');
  return `\`${s.defaultValue === '' ? '""' : s.defaultValue}\`${extra ? ` ${cell(extra)}` : ''}`;
}

function configurationMarkdown(settings: readonly SettingDoc[]): string {
  const rows = settings.map(
    (s) => `| \`${s.name}\` | ${defaultCell(s)} | ${cell(s.accepts)} | ${cell(s.description)} |`,
  );
  return `<!-- Generated from src/config.ts by \`npm run docs:config\`; edit the comments there, not this file. -->

# Configuration

Every setting is an environment variable. \`src/config.ts\` reads them once at
start-up, validates them and stops with a message naming the variable when one
is wrong (exit code 78). An empty value counts as unset, so the default applies.
giraffe reads the process environment only: with a \`.env\` file, start it as
\`node --env-file=.env bin/giraffe.js serve\`, or let \`docker compose\` pass the
file to the containers (see [deployment.md](deployment.md)).
[\`.env.example\`](../.env.example) lists the same settings with their defaults.

| variable | default | accepts | meaning |
| --- | --- | --- | --- |
${rows.join('\n')}
`;
}

/** Word-wraps a comment to lines of at most `width` characters, each starting with `# `. */
function commentLines(text: string, width = 100): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(' ')) {
    if (line.length + 1 + word.length > width && line !== '#') {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

/** `.env.example`: each setting with its explanation above it and its default (empty: unset). */
export function renderEnvExample(settings: readonly SettingDoc[] = readSettings()): string {
  const header = [
    '# giraffe settings, generated from src/config.ts by `npm run docs:config` (do not edit by hand).',
    '# Copy to .env and change what you need; docker compose hands .env to every giraffe container.',
    '# An empty value means unset: the default applies. docs/configuration.md has the accepted values.',
    '# docker-compose.yml sets REDIS_URL, MODELS_DIR, DATA_DIR, RESULTS_STORE and HOST for its',
    '# containers itself; the values below for those five apply outside compose.',
  ];
  const blocks = settings.map((s) =>
    [...commentLines(s.description), `${s.name}=${s.defaultValue ?? ''}`].join('\n'),
  );
  return `${header.join('\n')}\n\n${blocks.join('\n\n')}\n`;
}

/** docs/configuration.md's text, formatted as the repository's prettier formats it. */
export async function renderConfigurationDoc(
  settings: readonly SettingDoc[] = readSettings(),
): Promise<string> {
  // prettier 3 loads its parsers with dynamic import(): fine here, in plain node.
  const prettier = await import('prettier');
  const options = await prettier.resolveConfig(configurationDoc);
  return prettier.format(configurationMarkdown(settings), { ...options, filepath: configurationDoc });
}

async function main(): Promise<void> {
  const settings = readSettings();
  const outputs: [string, string][] = [
    [configurationDoc, await renderConfigurationDoc(settings)],
    [envExampleFile, renderEnvExample(settings)],
  ];
  const check = process.argv.includes('--check');
  let stale = false;
  for (const [file, text] of outputs) {
    const rel = path.relative(root, file);
    const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
    if (current === text) continue;
    if (check) {
      stale = true;
      console.error(`${rel} is stale: run npm run docs:config`);
    } else {
      fs.writeFileSync(file, text);
      console.log(`wrote ${rel}`);
    }
  }
  if (stale) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
