// Static publish of a view's conda channels: `<channel>/channeldata.json`,
// `<channel>/<subdir>/repodata.json` and the package files beside them (a standard channel
// layout: set channel_alias to `<site>/conda/<view>`). It must never copy a package the view's
// policy refuses: a static site cannot refuse with a reason, so a blocked one is left out.
import type { PublishSink } from '../types.js';
import type { CondaIndex } from './index.js';

const JSON_TYPE = 'application/json';

export async function publishCondaView(index: CondaIndex, view: string, out: PublishSink): Promise<void> {
  for (const channel of index.channels) {
    await out.put(`${channel.name}/channeldata.json`, index.channeldata(view, channel.name).body, JSON_TYPE);
    for (const subdir of index.subdirsOf(channel)) {
      await out.put(`${channel.name}/${subdir}/repodata.json`, index.repodata(view, channel.name, subdir).body, JSON_TYPE);
      for (const p of index.allowedPackages(view, channel.name, subdir))
        await out.copy(`${channel.name}/${subdir}/${p.filename}`, p.sha256, p.size);
    }
  }
}
