export { HubClient, parseRepoRef, type HubClientOptions, type HubFile } from './hub-client';
export { downloadFile, type DownloadOptions, type DownloadTarget } from './download-file';
export { selectPipelineFiles, type PipelineFile } from './pipeline-files';
export { pullModel, type PullOptions, type PullPlan, type PullResult } from './pull-model';
export { verifyModel, type VerifyOptions, type VerifyReport } from './verify-model';
export {
  listModels,
  removeModel,
  modelDirectory,
  SOURCE_FILE,
  PULLS_DIR,
  type StoredModel,
  type SourceRecord,
} from './model-store';
