import { Field, Int, ObjectType, registerEnumType } from "type-graphql";
import { GraphQLDateTimeISO } from "graphql-scalars";

export enum HeartbeatSource {
  API = "API",
  WORKER = "WORKER",
}

registerEnumType(HeartbeatSource, {
  name: "HeartbeatSource",
  description: "Which kind of process sent a heartbeat.",
  valuesConfig: {
    API: { description: "An API process (the one serving this connection answers at once on subscribe)." },
    WORKER: { description: "A background worker, through the job queue." },
  },
});

@ObjectType({ description: "Facts about the running server.", simpleResolvers: true })
export class ServerInfo {
  @Field({ description: "Version of Novart Studio the server runs." })
  version: string;
}

@ObjectType({ description: "A sign of life from the platform, streamed to live clients.", simpleResolvers: true })
export class Heartbeat {
  @Field(() => GraphQLDateTimeISO, { description: "When the heartbeat was sent." })
  at: Date;

  @Field(() => HeartbeatSource, { description: "Which kind of process sent it." })
  source: HeartbeatSource;

  @Field(() => Int, {
    description: "The sender's interval in milliseconds: its next heartbeat is due within this time.",
  })
  intervalMs: number;
}
