// Every string the patient sees, in English and Spanish, keyed by the profile's language.
const STRINGS = {
  en: {
    loading: "Loading…",
    connecting: "Connecting this phone…",
    code_label: "Your code from the clinic",
    code_hint: "Type the code your clinic gave you.",
    connect: "Connect this phone",
    enroll_failed: "Something went wrong. Please try again.",
    offline_first: "You are offline. Connect to the internet once to set up this phone.",
    hello: "Hello {name}.",
    nothing_due: "Nothing is due right now; we will remind you.",
    due_heading: "What is due",
    open_until: "open until {time}",
    question_of: "Question {n} of {total}",
    back: "Back",
    next: "Next",
    skip: "Skip this question",
    yes: "Yes",
    no: "No",
    review: "Check your answers",
    change: "Change",
    change_named: "Change: {question}",
    not_answered: "Not answered",
    send: "Send",
    saved: "Thank you. Your check-in is saved.",
    saved_offline: "Saved on this phone. It will be sent when you are back online.",
    thanks: "Thank you",
    next_due_open: "Another check-in is open now: {title}.",
    next_due_tomorrow: "Your next check-in is tomorrow at {time}.",
    next_due_at: "Your next check-in opens {day} at {time}.",
    start_next: "Start {title}",
    home: "Done",
    waiting: "{n} check-in(s) waiting to send.",
    sent: "All check-ins sent.",
    rejected: "A check-in could not be stored by the clinic: {problem}",
    dismiss: "Dismiss",
    update_ready: "A new version is ready —",
    reload: "reload",
    install_heading: "Add this app to your home screen",
    install_ios: "On iPhone: tap the Share button, then “Add to Home Screen”. Reminders only work once the app is on your home screen.",
    install_ios_code: "Then open the app from your home screen and type this code: {code}",
    install_ios_browser: "Use it in the browser instead (no reminders)",
    install_android: "On Android: open the browser menu (⋮), then “Install app” or “Add to Home screen”.",
    install_button: "Install the app",
    push_heading: "Reminders on this phone",
    push_why: "We can remind you when a check-in is due. The reminder only says it is time for your check-in; it never shows your answers.",
    push_turn_on: "Turn on reminders",
    push_on: "Reminders are on.",
    push_denied: "Reminders are off. To turn them on, allow notifications for this app in your phone's settings. The app works without them.",
  },
  es: {
    loading: "Cargando…",
    connecting: "Conectando este teléfono…",
    code_label: "Su código de la clínica",
    code_hint: "Escriba el código que le dio su clínica.",
    connect: "Conectar este teléfono",
    enroll_failed: "Algo salió mal. Inténtelo de nuevo.",
    offline_first: "No hay conexión. Conéctese a internet una vez para configurar este teléfono.",
    hello: "Hola, {name}.",
    nothing_due: "No hay nada pendiente ahora; le avisaremos.",
    due_heading: "Pendiente",
    open_until: "abierto hasta las {time}",
    question_of: "Pregunta {n} de {total}",
    back: "Atrás",
    next: "Siguiente",
    skip: "Omitir esta pregunta",
    yes: "Sí",
    no: "No",
    review: "Revise sus respuestas",
    change: "Cambiar",
    change_named: "Cambiar: {question}",
    not_answered: "Sin respuesta",
    send: "Enviar",
    saved: "Gracias. Su registro está guardado.",
    saved_offline: "Guardado en este teléfono. Se enviará cuando vuelva a tener conexión.",
    thanks: "Gracias",
    next_due_open: "Hay otro registro abierto ahora: {title}.",
    next_due_tomorrow: "Su próximo registro es mañana a las {time}.",
    next_due_at: "Su próximo registro se abre el {day} a las {time}.",
    start_next: "Empezar {title}",
    home: "Listo",
    waiting: "{n} registro(s) esperando para enviarse.",
    sent: "Todos los registros se enviaron.",
    rejected: "La clínica no pudo guardar un registro: {problem}",
    dismiss: "Cerrar",
    update_ready: "Hay una versión nueva —",
    reload: "recargar",
    install_heading: "Agregue esta aplicación a su pantalla de inicio",
    install_ios: "En iPhone: toque el botón Compartir y luego “Agregar a inicio”. Los recordatorios solo funcionan cuando la aplicación está en su pantalla de inicio.",
    install_ios_code: "Luego abra la aplicación desde su pantalla de inicio y escriba este código: {code}",
    install_ios_browser: "Usarla en el navegador (sin recordatorios)",
    install_android: "En Android: abra el menú del navegador (⋮) y luego “Instalar aplicación” o “Agregar a la pantalla de inicio”.",
    install_button: "Instalar la aplicación",
    push_heading: "Recordatorios en este teléfono",
    push_why: "Podemos recordarle cuando haya un registro pendiente. El recordatorio solo dice que es hora de su registro; nunca muestra sus respuestas.",
    push_turn_on: "Activar recordatorios",
    push_on: "Los recordatorios están activados.",
    push_denied: "Los recordatorios están desactivados. Para activarlos, permita las notificaciones de esta aplicación en los ajustes del teléfono. La aplicación funciona sin ellos.",
  },
};

let language = (navigator.language || "en").toLowerCase().startsWith("es") ? "es" : "en";

export function setLanguage(code) {
  language = code in STRINGS ? code : "en";
  document.documentElement.lang = language;
}

export function currentLanguage() {
  return language;
}

export function t(key, vars = {}) {
  const text = STRINGS[language][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

export function day(date) {
  return new Intl.DateTimeFormat(language, { weekday: "long", month: "long", day: "numeric" }).format(date);
}

export function clock(date) {
  return new Intl.DateTimeFormat(language, { hour: "numeric", minute: "2-digit" }).format(date);
}
