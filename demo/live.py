"""The live half of `consult demo`: real topics of the CWG-Internet placed relative to
*today*, so that whatever the date the board shows one consultation in each stage — one
proposed, one decided, one letter issued, one open (deadline ahead, stakeholders invited, a
few responses in, reminders scheduled), one compiled (a draft in the processing window), one
whose meeting was held — beside
the three historical rounds, which are reported.

The topics are the group's: the gender digital divide is the other candidate topic of the
chairman's report's annex (shared/reference/); multilingualization, connectivity,
affordability, the Internet of Things and artificial intelligence are rounds it has held or
proposed since. Respondents and stakeholders are fictitious, with addresses under the
reserved `.example` domain, so no mail can reach a real person.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlmodel import Session

from config import Settings
from documents.archive import Renderer
from notifications.effects import receive
from notifications.fanout import fan_out_in, settle_as_history
from notifications.registry import import_stakeholders
from states import Request, Trigger, local_date
from states.timing import local_instant
from store import consultations as repo
from store import lifecycle
from store.decision_file import parse_decision
from store.models import StakeholderCreate, SubmissionCreate
from store.submissions import submit

ZONE = "Europe/Geneva"
SECRETARIAT = "staff:secretariat (demo)"
CONTACT = {"contact_name": "CWG-Internet secretariat", "contact_email": "cwg-internet@itu.int"}
SUMMARY = "Brief summary of the physical open consultation meeting, approved by its participants."

MULTILINGUAL_TITLE = {
    "ar": "تعدد اللغات على الإنترنت",
    "zh": "互联网的多语言化",
    "en": "Multilingualization of the Internet",
    "fr": "Multilinguisme de l'Internet",
    "ru": "Многоязычие в интернете",
    "es": "Multilingüismo en Internet",
}
MULTILINGUAL_QUESTIONS = [
    {
        "ar": "ما هي العقبات التي تحول دون استعمال اللغات والكتابات المحلية على الإنترنت، "
        "بما في ذلك في أسماء الميادين وعناوين البريد الإلكتروني؟",
        "zh": "在互联网上（包括域名和电子邮件地址中）使用本地语言和文字存在哪些障碍？",
        "en": "What are the obstacles to the use of local languages and scripts on the Internet, "
        "including in domain names and e-mail addresses?",
        "fr": "Quels sont les obstacles à l'utilisation des langues et écritures locales sur l'Internet, "
        "y compris dans les noms de domaine et les adresses électroniques ?",
        "ru": "Какие препятствия мешают использованию местных языков и письменностей в интернете, "
        "в том числе в доменных именах и адресах электронной почты?",
        "es": "¿Cuáles son los obstáculos al uso de los idiomas y escrituras locales en Internet, "
        "incluidos los nombres de dominio y las direcciones de correo electrónico?",
    },
    {
        "ar": "ما هي السياسات العامة التي ساعدت على إنشاء محتوى وخدمات باللغات المحلية؟",
        "zh": "哪些公共政策有助于创建本地语言的内容和服务？",
        "en": "What public policies have helped create local-language content and services?",
        "fr": "Quelles politiques publiques ont contribué à la création de contenus et de services "
        "en langues locales ?",
        "ru": "Какие меры государственной политики способствовали созданию контента и услуг на местных языках?",
        "es": "¿Qué políticas públicas han contribuido a crear contenidos y servicios en idiomas locales?",
    },
    {
        "ar": "كيف يمكن للحكومات وأصحاب المصلحة الآخرين التعاون لتعزيز القبول الشامل "
        "لأسماء الميادين وعناوين البريد الإلكتروني المدوَّلة؟",
        "zh": "政府和其他利益攸关方如何合作推动国际化域名和电子邮件地址的普遍接受？",
        "en": "How can governments and other stakeholders cooperate to promote the universal acceptance "
        "of internationalized domain names and e-mail addresses?",
        "fr": "Comment les gouvernements et les autres parties prenantes peuvent-ils coopérer pour promouvoir "
        "l'acceptation universelle des noms de domaine et adresses électroniques internationalisés ?",
        "ru": "Как правительства и другие заинтересованные стороны могут сотрудничать в продвижении "
        "универсального признания интернационализированных доменных имен и адресов электронной почты?",
        "es": "¿Cómo pueden los gobiernos y las demás partes interesadas cooperar para promover la aceptación "
        "universal de los nombres de dominio y direcciones de correo electrónico internacionalizados?",
    },
]

STAKEHOLDERS = [
    ("Ministry of Communications and Information Technology", "member_state", "EG", "ar", "mcit.gov.example"),
    ("Ministère du Numérique", "member_state", "FR", "fr", "numerique.gouv.example"),
    ("Ministerio de Tecnologías de la Información", "member_state", "CO", "es", "mintic.gov.example"),
    ("Министерство цифрового развития", "member_state", "RU", "ru", "digital.gov.example"),
    ("中国信息通信研究院", "sector_member", "CN", "zh", "caict.example"),
    ("Global Telecom Operators Association", "sector_member", "GB", "en", "gtoa.example"),
    ("Université de Genève, Faculté de droit", "academia", "CH", "fr", "unige.example"),
    ("Internet Society, Kenya Chapter", "other", "KE", "en", "isoc-ke.example"),
]

# (stakeholder index, summary, answer by question number), in the respondent's language.
MULTILINGUAL_RESPONSES = [
    (0, "تدعو الوزارة إلى دعم الكتابة العربية في جميع أسماء الميادين وعناوين البريد الإلكتروني.",
     {1: "لا تقبل كثير من التطبيقات عناوين البريد الإلكتروني المكتوبة بالحروف العربية.",
      3: "نقترح برنامجاً إقليمياً للقبول الشامل بالتعاون مع المشغلين والجامعات."}),
    (6, "La faculté rappelle que le multilinguisme relève aussi du droit à l'information.",
     {2: "Les obligations de contenu local dans les services publics en ligne ont été décisives."}),
    (2, "El Ministerio comparte la experiencia de su programa de contenidos en lenguas indígenas.",
     {1: "Faltan teclados, fuentes y correctores para varias lenguas indígenas.",
      2: "Las compras públicas exigen ahora interfaces en español y en lenguas originarias."}),
    (4, "本院建议加强国际化域名的普遍接受测试。", {3: "建议建立多利益攸关方的普遍接受测试平台并定期发布报告。"}),
    (7, "The chapter reports on Swahili-language content in community networks.",
     {1: "Few registrars offer internationalized domain names in East Africa.",
      2: "Local hosting and community networks made Swahili content cheaper to publish."}),
]  # fmt: skip


@dataclass(frozen=True)
class Step:
    trigger: Trigger
    day: int  # days from today (negative: past)
    at: time = time(10, 0)
    request: dict[str, Any] = field(default_factory=dict)
    letter: int | None = None  # the registry's number for the letter, within its year (CL-YY/NN)


@dataclass(frozen=True)
class LiveStory:
    slug: str
    decision: dict[str, Any]  # a decision file's fields; dates as day offsets from today
    steps: tuple[Step, ...] = ()
    proposed_day: int | None = None  # created as a proposal on that day, else decided
    invites: bool = False  # stakeholders are mailed (to the local catcher): the current rounds
    responses: tuple[tuple[int, str, dict[int, str]], ...] = ()


def _close(deadline: int) -> tuple[Step, Step]:
    return Step(Trigger.CLOSE_SUBMISSIONS, deadline + 1, time(0, 1)), Step(Trigger.COMPILE, deadline + 1, time(0, 2))


STORIES = (
    LiveStory(
        "artificial-intelligence",
        {
            "title": {
                "en": "Artificial intelligence: public policy considerations",
                "ar": "الذكاء الاصطناعي: اعتبارات السياسات العامة",
                "fr": "Intelligence artificielle : considérations de politique publique",
            }
        },  # fmt: skip
        proposed_day=-12,
    ),
    LiveStory(
        "internet-affordability",
        {
            "title": {
                "en": "Affordability of Internet access",
                "ar": "القدرة على تحمل تكلفة النفاذ إلى الإنترنت",
                "es": "Asequibilidad del acceso a Internet",
            },  # fmt: skip
            "questions": [
                {
                    "en": "What measures have made Internet access more affordable, and for whom?",
                    "ar": "ما هي التدابير التي جعلت النفاذ إلى الإنترنت ميسور التكلفة، ولمن؟",
                }
            ],  # fmt: skip
            "decided_on": -6,
            "letter_date": 12,
            "deadline": 60,
            "meeting_on": 90,
        },
    ),
    LiveStory(
        "internet-of-things",
        {
            "title": {
                "en": "Internet of Things: public policy considerations",
                "ar": "إنترنت الأشياء: اعتبارات السياسات العامة",
                "fr": "L'Internet des objets : considérations de politique publique",
            },  # fmt: skip
            "questions": [
                {
                    "en": "What public policy matters does the Internet of Things raise, including security "
                    "and privacy?",
                    "ar": "ما هي قضايا السياسات العامة التي تثيرها إنترنت الأشياء، بما في ذلك الأمن والخصوصية؟",
                }
            ],
            "decided_on": -25,
            "letter_date": -2,
            "opens_at": 5,
            "deadline": 45,
            "meeting_on": 75,
        },  # fmt: skip
        steps=(Step(Trigger.ISSUE_LETTER, -2, letter=52),),
        invites=True,
    ),
    LiveStory(
        "multilingual-internet",
        {
            "title": MULTILINGUAL_TITLE,
            "questions": MULTILINGUAL_QUESTIONS,
            "decided_on": -45,
            "letter_date": -20,
            "deadline": 24,
            "meeting_on": 54,
        },  # fmt: skip
        steps=(Step(Trigger.ISSUE_LETTER, -20, letter=44), Step(Trigger.OPEN_SUBMISSIONS, -20, time(10, 5))),
        invites=True,
        responses=tuple(MULTILINGUAL_RESPONSES),
    ),
    LiveStory(
        "internet-connectivity",
        {
            "title": {
                "en": "Expanding Internet connectivity",
                "ar": "توسيع نطاق التوصيل بالإنترنت",
                "fr": "Étendre la connectivité à l'Internet",
                "es": "Ampliar la conectividad a Internet",
            },
            "questions": [
                {
                    "en": "What are the main obstacles to expanding Internet connectivity, especially in "
                    "developing countries?",
                    "ar": "ما هي العقبات الرئيسية أمام توسيع نطاق التوصيل بالإنترنت، لا سيما في البلدان النامية؟",
                },
                {
                    "en": "What public policies have proved effective in connecting the unconnected?",
                    "ar": "ما هي السياسات العامة التي أثبتت فعاليتها في توصيل غير الموصولين؟",
                },
            ],
            "decided_on": -110,
            "letter_date": -90,
            "deadline": -8,
            "meeting_on": 22,
        },  # fmt: skip
        steps=(
            Step(Trigger.ISSUE_LETTER, -90, letter=38),
            Step(Trigger.OPEN_SUBMISSIONS, -90, time(10, 5)),
            *_close(-8),
        ),
        responses=(
            (
                5,
                "Operators call for shared infrastructure and spectrum at fair prices.",
                {1: "Backhaul costs in rural areas.", 2: "Infrastructure sharing and universal service funds."},
            ),
            (1, "Le ministère présente son plan « zones blanches ».", {2: "Co-investissement public et privé."}),
        ),  # fmt: skip
    ),
    LiveStory(
        "gender-digital-divide",
        {
            "title": {
                "en": "Bridging the gender digital divide",
                "ar": "سد الفجوة الرقمية بين الجنسين",
                "fr": "Réduire la fracture numérique entre hommes et femmes",
                "es": "Reducir la brecha digital de género",
            },
            "questions": [
                {
                    "en": "What are the main barriers preventing women and girls from using the Internet?",
                    "ar": "ما هي العوائق الرئيسية التي تحول دون استعمال النساء والفتيات للإنترنت؟",
                },
                {
                    "en": "What policies and practices have helped close the gender digital divide?",
                    "ar": "ما هي السياسات والممارسات التي ساعدت على سد الفجوة الرقمية بين الجنسين؟",
                },
            ],
            "decided_on": -170,
            "letter_date": -150,
            "deadline": -50,
            "meeting_on": -20,
        },  # fmt: skip
        steps=(
            Step(Trigger.ISSUE_LETTER, -150, letter=31),
            Step(Trigger.OPEN_SUBMISSIONS, -150, time(10, 5)),
            *_close(-50),
            Step(Trigger.PUBLISH_COMPILATION, -27),
            Step(Trigger.HOLD_MEETING, -20, time(17, 0), {"meeting_summary": SUMMARY}),
        ),  # fmt: skip
        responses=(
            (
                7,
                "Community networks trained 2,000 women as digital champions.",
                {1: "Cost of devices and safety online.", 2: "Digital-skills programmes run by women for women."},
            ),
            (0, "تعرض الوزارة مبادرة لتدريب الفتيات على البرمجة.", {2: "برامج التدريب في المدارس."}),
        ),  # fmt: skip
    ),
)


def _stakeholder(index: int) -> StakeholderCreate:
    name, category, country, language, domain = STAKEHOLDERS[index]
    return StakeholderCreate(
        name=name, organisation=name, category=category, country=country, language=language,
        email=f"consultation@{domain}",
    )  # fmt: skip


def _decision(story: LiveStory, today: date, settings: Settings):
    raw: dict[str, Any] = {"slug": story.slug, "timezone": ZONE, **CONTACT, "meeting_place": "Geneva, Switzerland"}
    for key, value in story.decision.items():
        raw[key] = today + timedelta(days=value) if isinstance(value, int) else value
    if story.proposed_day is not None:
        raw = {k: raw[k] for k in ("slug", "title", "timezone")}
    return parse_decision(raw, policy=settings.policy, where=f"demo {story.slug}", default_timezone=ZONE)


def load_live(*, session: Session, now: datetime, settings: Settings) -> Iterator[str]:
    """Create each live consultation (if absent) and replay its steps up to `now`."""
    today = local_date(now, ZONE)
    registry = import_stakeholders(session=session, rows=[_stakeholder(i) for i in range(len(STAKEHOLDERS))], now=now)
    if registry.created:
        yield f"stakeholders: {registry.created} demo stakeholders added (addresses under .example)"
    # In the order they started, so that letter numbers follow the letters' dates.
    for story in sorted(STORIES, key=_first_day):
        if repo.exists(session=session, slug=story.slug):
            yield f"{story.slug}: already loaded, left as it is"
            continue
        data = _decision(story, today, settings)
        created_at = local_instant(today + timedelta(days=_first_day(story)), time(12, 0), ZONE)
        c = repo.create_consultation(
            session=session, data=data, proposed=story.proposed_day is not None, actor=SECRETARIAT,
            now=created_at, policy=settings.policy,
        ).consultation  # fmt: skip
        for step in story.steps:
            day = today + timedelta(days=step.day)
            at = local_instant(day, step.at, ZONE)
            request = dict(step.request)
            if step.letter:
                request["letter_number"] = f"CL-{day.year % 100:02d}/{step.letter}"
            lifecycle.fire(
                session=session, consultation=c, trigger=step.trigger, actor=_actor(step.trigger), now=at,
                policy=settings.policy, documents=Renderer(settings), request=Request(**request),
            )  # fmt: skip
            if step.trigger is Trigger.OPEN_SUBMISSIONS:
                _respond(session=session, consultation=c, story=story, opened=at, now=now, settings=settings)
        if story.invites:  # the current rounds: their notices go to the stakeholders (the local catcher)
            fan_out_in(session=session, now=now, mail=settings.mail)
        else:
            settle_as_history(session=session, consultation_id=repo.key(c), now=now)
        session.commit()
        yield f"{c.slug}: {c.stage} (letter {c.letter_number or '—'})"


def _respond(*, session: Session, consultation, story: LiveStory, opened: datetime, now: datetime,
             settings: Settings) -> None:  # fmt: skip
    """The story's responses, one a day from the day after opening, as if sent online."""
    for n, (who, summary, answers) in enumerate(story.responses, start=1):
        at = opened + timedelta(days=n, hours=n)
        if at >= now or (consultation.deadline and at > consultation.deadline):
            break
        person = _stakeholder(who)
        data = SubmissionCreate(
            name=person.name, organisation=person.organisation, category=person.category,
            country=person.country or "CH", email=person.email, language=person.language, summary=summary,
            answers=[{"question": q, "text": text} for q, text in answers.items()],
        )  # fmt: skip
        if story.invites:  # the receipt goes to the catcher too
            receive(session=session, consultation=consultation, data=data, now=at, settings=settings, channel="web")
        else:
            submit(session=session, consultation=consultation, data=data, now=at, channel="web")


def _first_day(story: LiveStory) -> int:
    return story.proposed_day if story.proposed_day is not None else story.decision["decided_on"]


def _actor(trigger: Trigger) -> str:
    return (
        "system" if trigger in {Trigger.OPEN_SUBMISSIONS, Trigger.CLOSE_SUBMISSIONS, Trigger.COMPILE} else SECRETARIAT
    )
