/** `POST …/sync` takes no fields: an empty object or no body; any field is unknown_field. */
export class SyncNowDto {}

/** `POST …/connection-test` takes no fields: an empty object or no body; any field is unknown_field. */
export class ConnectionTestDto {}
