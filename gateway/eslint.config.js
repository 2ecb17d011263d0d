// @ts-check
// Lint rules: neostandard (the `standard` style as an ESLint 9 flat config),
// with TypeScript syntax on for src/types.d.ts. Types are checked by `tsc`.
import neostandard from 'neostandard'

export default neostandard({ ts: true })
