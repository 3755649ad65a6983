// The registry of per-ecosystem policy grammars: a plain map, one entry per ecosystem folder.
import type { Ecosystem, PolicyGrammar } from '../policy/types.js';
import { condaGrammar } from './conda/grammar.js';
import { pypiGrammar } from './pypi/grammar.js';
import { ociGrammar } from './oci/grammar.js';
import { npmGrammar } from './npm/grammar.js';

export const grammars: Partial<Record<Ecosystem, PolicyGrammar>> = {
  pypi: pypiGrammar,
  oci: ociGrammar,
  conda: condaGrammar,
  npm: npmGrammar, // npm (issue 12)
};
