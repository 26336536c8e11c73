// A tiny app of the journal, in Kotlin: proves the generated bindings
// compile and call the library (scripts/test.sh runs it; see docs/mobile.md).
import java.nio.file.Files
import java.time.Instant
import java.util.concurrent.ConcurrentHashMap
import kotlin.system.exitProcess
import uniffi.journal.*

/** The secret store an app would back with the Android Keystore. */
class MemorySecrets : SecretStore {
    private val secrets = ConcurrentHashMap<String, String>()
    override fun get(key: String): String? = secrets[key]
    override fun set(key: String, value: String) { secrets[key] = value }
    override fun remove(key: String) { secrets.remove(key) }
}

fun main() {
    val dir = Files.createTempDirectory("journal-kotlin")
    Journal.open(dir.resolve("journal.db").toString(), MemorySecrets()).use { journal ->
        val saved = journal.create(
            RecordContent.JournalEntry(
                JournalEntry(body = "I saw the sea.", phase = Phase.INTEGRATION, title = "After the first session"),
            ),
        )
        println("saved ${saved.record.kind} ${saved.record.id}")

        val page = journal.list(RecordFilter(kinds = listOf(RecordKind.JOURNAL_ENTRY)))
        for (record in page.records) {
            val entry = (record.content as RecordContent.JournalEntry).entry
            println("listed ${entry.title}: ${entry.body}")
        }

        val result = journal.recordAssessment(
            Assessment(instrument = Instrument.PHQ9, takenAt = Instant.now(), answers = listOf(1, 1, 1, 1, 1, 1, 1, 1, 1)),
        )
        println("PHQ-9 total ${result.score.total} (${result.score.severity}), safety notice: ${result.safetyNotice?.resources?.headline}")

        try {
            journal.create(RecordContent.MoodCheckIn(MoodCheckIn(recordedAt = Instant.now(), mood = 11, anxiety = 2, energy = 5)))
            println("an invalid check-in was saved")
            exitProcess(1)
        } catch (e: JournalException.Invalid) {
            println("refused: ${e.detail} (fields: ${e.violations.map { it.field }})")
        }

        // A care plan of the patient's own: the agenda, a reminder, insights.
        journal.create(
            RecordContent.CarePlan(
                CarePlan(
                    measures = listOf(MeasurePlan(instrument = Instrument.GAD7, everyDays = 14u)),
                    checkIns = CheckInCadence.DAILY,
                ),
            ),
        )
        val inForce = journal.carePlan()
        println("care plan in force: ${inForce?.plan?.measures?.map { it.instrument }}, by ${inForce?.author ?: "the patient"}")
        if (inForce == null || inForce.author != null || journal.ownCarePlan() != inForce.plan) exitProcess(1)
        val agenda = journal.agenda(Instant.now())
        println("agenda: ${agenda.map { it.task }}")
        if (agenda.none { it.task is AgendaTask.Questionnaire }) {
            println("the GAD-7 the plan asks for is not on the agenda")
            exitProcess(1)
        }
        journal.setReminderSettings(
            ReminderSettings(times = listOf("08:30"), timeZone = "America/Chicago", quietFrom = "22:00", quietUntil = "07:00"),
        )
        val reminder = journal.nextReminderAt(Instant.now())
        println("next reminder: $reminder")
        if (reminder == null) exitProcess(1)
        val insights = journal.insights(Instant.now().minusSeconds(30L * 86_400), Instant.now().plusSeconds(60))
        println("PHQ-9 course: ${insights.phq9?.latest}; mood check-ins: ${insights.mood.count}")

        println("prompts: ${prompts(Phase.PREPARATION).size} for preparation; exercises: ${groundingExercises().map { it.id }}")
        println("pending changes: ${journal.pendingChangeCount()}")
    }
    accountWalk(dir)
    dir.toFile().deleteRecursively()
    println("kotlin: ok")
}

/**
 * The account walk of an app against a real server (scripts/test.sh starts
 * one and passes its address, a therapist's invitation code and their
 * token): the policy, registration, a refused and an accepted invitation,
 * sharing, sync, the therapist's comment and the patient's reply, care
 * links and signing out.
 */
fun accountWalk(dir: java.nio.file.Path) {
    val server = System.getenv("JOURNAL_KOTLIN_SERVER")
    val code = System.getenv("JOURNAL_KOTLIN_INVITATION")
    if (server == null || code == null) {
        println("account walk skipped: no server given")
        return
    }
    Journal.open(dir.resolve("app.db").toString(), MemorySecrets()).use { app ->
        val policy = app.refreshPolicy(server)
        println("policy: ${policy.monitoringStatement.take(40)}…; crisis: ${policy.crisisResources.headline}")
        app.register(server, "kotlin-${System.nanoTime()}@example.org", "a long passphrase for kotlin", "Kim")
        try {
            app.acceptInvitation("AAAAA-BBBBB")
            println("an unknown invitation code was accepted")
            exitProcess(1)
        } catch (e: JournalException.InvitationUnusable) {
            println("refused: ${e.detail}")
        }
        val link = app.acceptInvitation(code)
        println("linked with ${link.therapistName}")
        app.shareKinds(link.therapistId, listOf(RecordKind.JOURNAL_ENTRY))
        val entry = app.create(RecordContent.JournalEntry(JournalEntry(body = "Written in Kotlin.", phase = Phase.INTEGRATION))).record
        val report = app.sync()
        println("sync: pushed ${report.pushed}, news ${report.pulled}, comments ${report.commentsNew}")
        if (report.pushed != 2L || report.pulled != 0L) exitProcess(1)

        // The therapist comments (through the API, as the portal does); the
        // phone hears of it, and the patient replies.
        val therapistToken = System.getenv("JOURNAL_KOTLIN_THERAPIST_TOKEN")
        if (therapistToken != null) {
            val patientId = app.account().id
            val request = java.net.http.HttpRequest.newBuilder(
                java.net.URI.create("$server/api/v1/therapist/patients/$patientId/records/${entry.id}/comments"),
            )
                .header("Authorization", "Bearer $therapistToken")
                .header("Content-Type", "application/json")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"text\": \"Thank you, Kim.\"}"))
                .build()
            val answer = java.net.http.HttpClient.newHttpClient()
                .send(request, java.net.http.HttpResponse.BodyHandlers.ofString())
            if (answer.statusCode() != 201) {
                println("the therapist's comment was refused: ${answer.statusCode()} ${answer.body()}")
                exitProcess(1)
            }
            val heard = app.sync()
            val comment = app.comments(entry.id).single()
            println("${comment.author} commented (${heard.commentsNew} new): ${comment.text}")
            if (heard.commentsNew != 1L || heard.commentedRecords != listOf(entry.id)) exitProcess(1)
            val reply = app.replyToComment(comment.id, "Thank you for reading it.")
            if (reply.delivery != CommentDelivery.PENDING || !reply.fromPatient) exitProcess(1)
            val sent = app.sync()
            val delivered = app.comments(entry.id).last()
            println("→ reply: ${delivered.text} (${delivered.delivery}, ${sent.repliesSent} sent)")
            if (sent.repliesSent != 1L || delivered.delivery != CommentDelivery.DELIVERED) exitProcess(1)
        }
        if (app.careLinks().map { it.id } != listOf(link.id)) exitProcess(1)
        if (!app.signOut() || app.isSignedIn()) exitProcess(1)
        try {
            app.sync()
            exitProcess(1)
        } catch (e: JournalException.NotSignedIn) {
            println("signed out: ${e.detail}")
        }
    }
}
