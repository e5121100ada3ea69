// An ESLint plugin with one rule, `certpin/public-api-only`: the files it is applied to (src/cli/**)
// may use the library only through its public API. Every name such a file imports (or re-exports)
// from a module outside the rule's `scope` folder (src/cli/) must be a name that src/index.ts exports
// from that same module; type-only imports count too. The CLI imports library modules directly, not through
// src/index.ts, so that a command loads only what it needs (test/cli/startup.test.mjs); this rule is
// what keeps those direct imports within the public API, and so keeps logic the library lacks out of
// the CLI (issue 15 item 3).
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** A module path as the rule compares them: absolute, and `.js` written in an import meaning the `.ts` source. */
function modulePath(from, specifier) {
  return resolve(from, specifier).replace(/\.(m|c)?js$/, '.$1ts');
}

const parsed = new Map();

/**
 * What an index module exports, read from its source text: per module it re-exports from, the names
 * it takes from there (the names that module itself exports them as), or `*` for `export *`; and
 * under the index's own path, the names the index exports.
 */
export function readPublicExports(indexPath) {
  const mtime = statSync(indexPath).mtimeMs;
  const cached = parsed.get(indexPath);
  if (cached?.mtime === mtime) return cached.exports;
  const source = ts.createSourceFile(indexPath, readFileSync(indexPath, 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const exports = new Map([[indexPath, new Set()]]);
  const own = exports.get(indexPath);
  const add = (module, name) => {
    if (!exports.has(module)) exports.set(module, new Set());
    exports.get(module).add(name);
  };
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement)) {
      const module = statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier) ? modulePath(dirname(indexPath), statement.moduleSpecifier.text) : undefined;
      const clause = statement.exportClause;
      if (clause === undefined) {
        if (module !== undefined) add(module, '*');
      } else if (ts.isNamedExports(clause)) {
        for (const element of clause.elements) {
          own.add(element.name.text);
          if (module !== undefined) add(module, (element.propertyName ?? element.name).text);
        }
      } else {
        own.add(clause.name.text); // export * as name from '…'
      }
    } else if (ts.canHaveModifiers(statement) && ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) {
      if (ts.isVariableStatement(statement)) {
        for (const declaration of statement.declarationList.declarations) if (ts.isIdentifier(declaration.name)) own.add(declaration.name.text);
      } else if (statement.name !== undefined && ts.isIdentifier(statement.name)) {
        own.add(ts.getModifiers(statement).some((m) => m.kind === ts.SyntaxKind.DefaultKeyword) ? 'default' : statement.name.text);
      }
    }
  }
  parsed.set(indexPath, { mtime, exports });
  return exports;
}

const isInside = (path, dir) => path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/** @type {import('eslint').Rule.RuleModule} */
const publicApiOnly = {
  meta: {
    type: 'problem',
    docs: { description: 'Files under src/cli/ import from the library only the names src/index.ts exports from that module.' },
    schema: [
      {
        type: 'object',
        properties: {
          index: { type: 'string', description: 'the absolute path of the public entry point (src/index.ts)' },
          root: { type: 'string', description: 'the folder paths in messages and in `allow` are relative to' },
          scope: { type: 'string', description: 'the folder (relative to root) whose own modules are not the library: src/cli' },
          allow: {
            type: 'array',
            description: 'explicit exceptions: in `file`, these `names` may come from `from` (paths relative to root)',
            items: {
              type: 'object',
              properties: { file: { type: 'string' }, from: { type: 'string' }, names: { type: 'array', items: { type: 'string' } } },
              required: ['file', 'from', 'names'],
              additionalProperties: false,
            },
          },
        },
        required: ['index', 'root', 'scope'],
        additionalProperties: false,
      },
    ],
    messages: {
      notPublic:
        '{{name}} is imported from {{module}}, but {{index}} does not export {{name}} from {{module}}: {{within}} may use the library only through its public API. {{fix}}',
      notNamed: '{{what}} {{module}} names no export, so it cannot be checked against {{index}}: import by name what {{index}} exports from that module.',
    },
  },
  create(context) {
    const { index, root, scope: scopeOption, allow = [] } = context.options[0];
    const file = context.filename;
    const here = dirname(file);
    const scope = resolve(root, scopeOption);
    const rel = (path) => relative(root, path).split(sep).join('/');
    const exports = readPublicExports(index);
    const allowed = allow.filter((entry) => resolve(root, entry.file) === file);

    /** The module a relative specifier names, when it is outside the scope folder and so is the library's. */
    const libraryModule = (specifier) => {
      if (typeof specifier !== 'string' || !(specifier.startsWith('.') || isAbsolute(specifier))) return undefined; // a package: not certpin's library
      const module = modulePath(here, specifier);
      return isInside(module, scope) ? undefined : module;
    };
    const isPublic = (module, name) => {
      const names = exports.get(module);
      if (names?.has(name) || names?.has('*')) return true;
      return allowed.some((entry) => resolve(root, entry.from) === module && entry.names.includes(name));
    };
    /** What to do instead: the module index.ts exports the name from, if any; else the choices. */
    const fixFor = (module, name) => {
      const elsewhere = [...exports].find(([other, names]) => other !== index && other !== module && names.has(name));
      if (elsewhere) return `Import ${name} from ${rel(elsewhere[0])}, the module ${rel(index)} exports it from.`;
      return `Use a public function instead; or, if a library user would want ${name} too, export it from ${rel(index)} with TSDoc (@param, @throws, @example); or, if only the CLI needs it, move it under ${rel(scope)}/.`;
    };
    const check = (node, module, name) => {
      if (isPublic(module, name)) return;
      context.report({ node, messageId: 'notPublic', data: { name, module: rel(module), index: rel(index), within: rel(file), fix: fixFor(module, name) } });
    };
    const notNamed = (node, module, what) => {
      if (allowed.some((entry) => resolve(root, entry.from) === module)) return;
      context.report({ node, messageId: 'notNamed', data: { what, module: rel(module), index: rel(index) } });
    };
    const nameOf = (node) => (node.type === 'Identifier' ? node.name : String(node.value));

    return {
      ImportDeclaration(node) {
        const module = libraryModule(node.source.value);
        if (module === undefined) return;
        if (node.specifiers.length === 0) notNamed(node, module, 'An import for side effects of');
        for (const specifier of node.specifiers) {
          if (specifier.type === 'ImportSpecifier') check(specifier, module, nameOf(specifier.imported));
          else if (specifier.type === 'ImportDefaultSpecifier') check(specifier, module, 'default');
          else notNamed(specifier, module, 'A namespace import (import * as …) of');
        }
      },
      ExportNamedDeclaration(node) {
        const module = node.source ? libraryModule(node.source.value) : undefined;
        if (module === undefined) return;
        for (const specifier of node.specifiers) check(specifier, module, nameOf(specifier.local));
      },
      ExportAllDeclaration(node) {
        const module = libraryModule(node.source.value);
        if (module !== undefined) notNamed(node, module, 'export * from');
      },
      ImportExpression(node) {
        if (node.source.type !== 'Literal') return;
        const module = libraryModule(node.source.value);
        if (module !== undefined) notNamed(node, module, 'A dynamic import() of');
      },
      TSImportType(node) {
        // import('…').Name in a type: typescript-eslint calls the specifier `argument` (v8) or `source`.
        const literal = node.source ?? node.argument?.literal;
        const module = literal ? libraryModule(literal.value) : undefined;
        if (module === undefined) return;
        let qualifier = node.qualifier;
        while (qualifier?.type === 'TSQualifiedName') qualifier = qualifier.left;
        if (qualifier?.type === 'Identifier') check(node, module, qualifier.name);
        else notNamed(node, module, 'A type import(…) without a name, of');
      },
    };
  },
};

export default { meta: { name: 'certpin' }, rules: { 'public-api-only': publicApiOnly } };
