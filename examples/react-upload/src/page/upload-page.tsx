import { useState, type FormEvent } from 'react';
import { useJob } from 'jobdeck/react';

/** What `POST /api/uploads` answers: the job, and a token for that job alone. */
interface Upload {
  jobId: string;
  token: string;
  filename: string;
}

/** jobdeck's API, mounted by the server under /jobdeck on this page's origin. */
const JOBDECK = '/jobdeck';

/** The upload form, and one live panel per upload. */
export function UploadPage() {
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [problem, setProblem] = useState<string | null>(null);

  async function upload(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const file = (form.elements.namedItem('file') as HTMLInputElement).files?.[0];
    if (!file) return setProblem('choose a file first');
    setProblem(null);
    const response = await fetch('/api/uploads', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ filename: file.name, content: await file.text() }),
    });
    if (!response.ok) return setProblem(`the upload was refused (${response.status})`);
    const { jobId, token } = (await response.json()) as Omit<Upload, 'filename'>;
    setUploads((known) => [{ jobId, token, filename: file.name }, ...known]);
    form.reset();
  }

  return (
    <main style={{ fontFamily: 'system-ui', maxWidth: 640, margin: '2rem auto' }}>
      <h1>Upload a file</h1>
      <form onSubmit={upload}>
        <label>
          File <input type="file" name="file" aria-label="File" />
        </label>{' '}
        <button type="submit">Upload</button>
      </form>
      {problem && <p role="alert">{problem}</p>}
      {uploads.map((u) => (
        <UploadProgress key={u.jobId} upload={u} />
      ))}
    </main>
  );
}

/** One upload's job, followed live with the token scoped to it. */
function UploadProgress({ upload }: { upload: Upload }) {
  const { job, status, error, cancel } = useJob(upload.jobId, {
    baseUrl: JOBDECK,
    token: upload.token,
  });
  const progress = job?.progress ?? 0;
  return (
    <section data-job={upload.jobId} aria-label={`upload ${upload.filename}`}>
      <h2>{upload.filename}</h2>
      <progress max={100} value={progress} aria-label="progress" />{' '}
      <span data-testid="percent">{progress} %</span>{' '}
      <span data-testid="status">{job?.status ?? 'waiting'}</span>{' '}
      <small data-testid="connection">({status})</small>
      {job?.canCancel && (
        <button type="button" onClick={() => void cancel()}>
          Cancel
        </button>
      )}
      {error && <p role="alert">{error.message}</p>}
    </section>
  );
}
