export { configSchema, perCamera } from './schema';
export type { CameraConfig, Config, ConfigInput, SensorConfig, TriggersConfig } from './schema';
export { loadConfig, parseConfig, envOverrides, ConfigError } from './load';
export type { LoadOptions, LoadedConfig } from './load';
export { configurationMarkdown } from './docs';
export { PROFILES, PROFILE_NAMES, PROFILE_SETTINGS, profileForModel, chooseProfile, applyProfile } from './profiles';
export type { Profile, ProfileName, ProfileSetting, ProfileChoice } from './profiles';
