/** Routes: each composes sections under a page heading. */
import { useCallback, useState } from "react";
import { Link } from "../app/router";
import { useI18n } from "../i18n/I18nProvider";
import { CaptureSection } from "../sections/CaptureSection";
import { CompareSection } from "../sections/CompareSection";
import { DevicesSection } from "../sections/DevicesSection";
import { LoginSection } from "../sections/LoginSection";
import { RecordingDetailSection } from "../sections/RecordingDetailSection";
import { RecordingsSection } from "../sections/RecordingsSection";

export function PerformanceRoute() {
  const { t } = useI18n();
  const [version, setVersion] = useState(0);
  const onSaved = useCallback(() => setVersion((v) => v + 1), []);
  return (
    <>
      <h1 className="page-title">{t("nav.performance")}</h1>
      <CaptureSection onSaved={onSaved} />
      <RecordingsSection version={version} />
    </>
  );
}

export function DevicesRoute() {
  const { t } = useI18n();
  return (
    <>
      <h1 className="page-title">{t("nav.devices")}</h1>
      <DevicesSection />
    </>
  );
}

function Back() {
  const { t } = useI18n();
  return (
    <p className="back">
      <Link to={{ name: "performance" }}>← {t("nav.back")}</Link>
    </p>
  );
}

export function RecordingRoute({ id }: { id: string }) {
  return (
    <>
      <Back />
      <RecordingDetailSection id={id} />
    </>
  );
}

export function CompareRoute({ ids }: { ids: readonly string[] }) {
  return (
    <>
      <Back />
      <CompareSection ids={ids} />
    </>
  );
}

export function LoginRoute() {
  return <LoginSection />;
}

export function NotFoundRoute({ path }: { path: string }) {
  const { t } = useI18n();
  return (
    <>
      <Back />
      <p className="notice notice-warn">{t("nav.notFound", { path })}</p>
    </>
  );
}
