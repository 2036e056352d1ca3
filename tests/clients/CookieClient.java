// Logs in with each name through the JDK's HttpClient and its standard cookie jar, CookieManager,
// then reads the name back: java CookieClient.java BASE_URL NAME... (each name percent-encoded,
// as the form body carries it). Prints one line per name: the two statuses, the userID cookie as
// the jar keeps it, and the /getcookie page in base64.
import java.net.CookieManager;
import java.net.HttpCookie;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Base64;

public class CookieClient {
    public static void main(String[] args) throws Exception {
        URI base = URI.create(args[0]);
        for (int i = 1; i < args.length; i++) {
            CookieManager jar = new CookieManager();
            HttpClient client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .cookieHandler(jar)
                .build();
            HttpRequest login = HttpRequest.newBuilder(base.resolve("/setcookie"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString("nm=" + args[i]))
                .build();
            int loginStatus = client.send(login, HttpResponse.BodyHandlers.discarding()).statusCode();
            String kept = "-";
            for (HttpCookie cookie : jar.getCookieStore().getCookies()) {
                if (cookie.getName().equals("userID")) {
                    kept = cookie.getValue();
                }
            }
            HttpRequest read = HttpRequest.newBuilder(base.resolve("/getcookie")).build();
            HttpResponse<byte[]> page = client.send(read, HttpResponse.BodyHandlers.ofByteArray());
            String body = Base64.getEncoder().encodeToString(page.body());
            System.out.println(loginStatus + " " + page.statusCode() + " " + kept + " " + body);
        }
    }
}
