import { createRoot } from 'react-dom/client';
import { UploadPage } from './upload-page.tsx';

createRoot(document.getElementById('root')!).render(<UploadPage />);
