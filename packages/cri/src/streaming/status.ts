// How an exec or attach ended, as the error stream tells the client: shared with clients,
// which read what the server writes (see @berth/client/streaming/status).

export * from "@berth/client/streaming/status";
