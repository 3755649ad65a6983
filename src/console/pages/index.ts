// The console's pages, in registration order: each module follows the page contract of
// ../types.ts (`registerXxxPage(app, deps)`, rendering through renderPage). A new page is one
// module in this folder and one line here; nothing else needs to change.
import type { FastifyInstance } from 'fastify';
import type { ConsoleDeps } from '../types.js';
import { registerSearchPage } from './search.js';
import { registerSignInPage } from './sign-in.js';

export const PAGES: ReadonlyArray<(app: FastifyInstance, deps: ConsoleDeps) => void> = [registerSignInPage, registerSearchPage];
