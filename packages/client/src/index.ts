// The smart client: a connection to berthd (or containerd), registry access, pull and
// unpack, and image helpers.

export * from "./connection.js";
export * from "./errdefs.js";
export * as images from "./images.js";
export * from "./content.js";
export * from "./identity.js";
export * from "./labels.js";
export * from "./manifests.js";
export * from "./media-types.js";
export * from "./platforms.js";
export * from "./pull.js";
export * from "./push.js";
export * from "./image-content.js";
export * from "./archive/index.js";
export * from "./remotes/index.js";
export * from "./unpack.js";
