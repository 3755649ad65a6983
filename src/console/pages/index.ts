// The console's pages, in registration order: each module follows the page contract of
// ../types.ts (`registerXxxPage(app, deps)`, rendering through renderPage). A new page is one
// module in this folder and one line here; nothing else needs to change.
import type { FastifyInstance } from 'fastify';
import type { ConsoleDeps } from '../types.js';
import { registerPackagePage } from './package.js';
import { registerQueuePage } from './queue.js';
import { registerRequestDetailPage } from './request-detail.js';
import { registerRequestPage } from './request.js';
import { registerRequestsPage } from './requests.js';
import { registerSearchPage } from './search.js';
import { registerSignInPage } from './sign-in.js';
import { registerGatePage } from './gate.js';
import { registerDemandPage } from './demand.js';
import { registerSyncPage } from './sync.js';
import { registerAuditPage } from './audit.js';
import { registerOnboardingPage } from './onboarding.js';
import { registerSessionsPage } from './sessions.js';

export const PAGES: ReadonlyArray<(app: FastifyInstance, deps: ConsoleDeps) => void> = [
  registerSignInPage,
  registerSearchPage,
  registerPackagePage,
  registerRequestPage,
  registerRequestsPage,
  registerRequestDetailPage,
  registerQueuePage,
  // The platform and security pages (gate, demand, sync, audit, onboarding).
  registerGatePage,
  registerDemandPage,
  registerSyncPage,
  registerAuditPage,
  registerOnboardingPage,
  registerSessionsPage,
];
