// The data of the console's onboarding page: for each view, the client configuration that
// points a workspace at Safelist and nowhere else, exactly as GET /api/v1/workspaces/{view}/config
// and `safelist workspace` give it (onboarding/workspace.ts). The base URL is server.publicUrl or
// the listening address, never a request's Host header. It must never write snippets of its own.
import type { AddressInfo } from 'node:net';
import type { Config } from '../../config/schema.js';
import { onboardingBase, workspaceConfig, type Onboarding } from '../../onboarding/workspace.js';

export interface OnboardingPageView {
  views: Onboarding[];
}

export function onboardingPage(config: Config, viewNames: string[], listening: AddressInfo | string | null): OnboardingPageView {
  const base = onboardingBase(config.server.publicUrl, listening);
  return { views: viewNames.map((v) => workspaceConfig(config, v, base)) };
}
