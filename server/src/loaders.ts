import DataLoader from "dataloader";
import type { Services } from "./app.js";
import type { AssetEntity } from "./modules/assets/asset.entity.js";
import type { Balance } from "./modules/credits/ledger.service.js";
import type { GenerationModelEntity } from "./modules/generation/generation-model.entity.js";
import type { TaskEntity } from "./modules/generation/task.entity.js";
import type { WebhookAttemptEntity } from "./modules/webhooks/webhook.entities.js";

/** Every per-operation DataLoader; made fresh for each operation so nothing is cached across requests. */
export interface Loaders {
  balance: DataLoader<string, Balance>;
  assetsByTask: DataLoader<string, AssetEntity[]>;
  owner: DataLoader<string, { id: string; displayName: string }>;
  model: DataLoader<string, GenerationModelEntity>;
  queuePosition: DataLoader<string, number | undefined>;
  task: DataLoader<string, TaskEntity>;
  webhookAttempts: DataLoader<string, WebhookAttemptEntity[]>;
}

/** `cache: false` for subscriptions, whose context outlives one event: batching stays, stale answers go. */
export function createLoaders(services: Services, { cache = true } = {}): Loaders {
  const byId = <V>(load: (ids: readonly string[]) => Promise<Map<string, V>>, missing: (id: string) => V | Error) =>
    new DataLoader<string, V>(
      async (ids) => {
        const found = await load(ids);
        return ids.map((id) => (found.has(id) ? found.get(id)! : missing(id)));
      },
      { cache },
    );
  return {
    balance: byId(
      (ids) => services.ledger.balances(ids),
      () => ({ paid: 0, bonus: 0 }),
    ),
    assetsByTask: byId(
      (ids) => services.assets.byTasks(ids),
      () => [],
    ),
    owner: byId(
      async (ids) =>
        new Map([...(await services.accounts.displayNames(ids))].map(([id, displayName]) => [id, { id, displayName }])),
      (id) => ({ id, displayName: "Deleted account" }),
    ),
    model: byId(
      async (ids) => new Map((await services.catalog.byIds(ids)).map((m) => [m.id, m])),
      (id) => new Error(`model ${id} not found`),
    ),
    task: byId(
      async (ids) => new Map((await services.tasks.byIds(ids)).map((t) => [t.id, t])),
      (id) => new Error(`task ${id} not found`),
    ),
    queuePosition: byId(
      (ids) => services.tasks.queuePositions(ids),
      () => undefined,
    ),
    webhookAttempts: byId(
      async (ids) => {
        const map = new Map<string, WebhookAttemptEntity[]>();
        for (const attempt of await services.webhooks.attempts(ids)) {
          map.set(attempt.deliveryId, [...(map.get(attempt.deliveryId) ?? []), attempt]);
        }
        return map;
      },
      () => [],
    ),
  };
}
