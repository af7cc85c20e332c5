// A tiny admin client for scripts/kafka.sh, run with Java's single-file source launcher and the
// broker's own kafka-clients jar (so no kafka-tools and its Jetty/Connect dependency tree):
//   java -cp 'lib/*' KafkaAdmin.java BOOTSTRAP ready
//   java -cp 'lib/*' KafkaAdmin.java BOOTSTRAP create TOPIC PARTITIONS [KEY=VALUE…]
//   java -cp 'lib/*' KafkaAdmin.java BOOTSTRAP delete TOPIC
// `ready` succeeds once the broker answers a metadata request (an open port is not enough).
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

public class KafkaAdmin {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
        try (Admin admin = Admin.create(props)) {
            switch (args[1]) {
                case "ready" -> {
                    int brokers = admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).size();
                    if (brokers < 1) System.exit(1);
                }
                case "create" -> {
                    Map<String, String> configs = new HashMap<>();
                    for (int i = 4; i < args.length; i++) {
                        String[] setting = args[i].split("=", 2);
                        configs.put(setting[0], setting[1]);
                    }
                    NewTopic topic = new NewTopic(args[2], Integer.parseInt(args[3]), (short) 1).configs(configs);
                    try {
                        admin.createTopics(List.of(topic)).all().get(10, TimeUnit.SECONDS);
                    } catch (ExecutionException e) {
                        if (!(e.getCause() instanceof TopicExistsException)) throw e;
                    }
                    int partitions = admin.describeTopics(List.of(args[2])).allTopicNames()
                        .get(10, TimeUnit.SECONDS).get(args[2]).partitions().size();
                    System.out.println(args[2] + ": " + partitions + " partitions");
                }
                case "delete" -> {
                    try {
                        admin.deleteTopics(List.of(args[2])).all().get(10, TimeUnit.SECONDS);
                    } catch (ExecutionException e) {
                        if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) throw e;
                    }
                }
                default -> throw new IllegalArgumentException("unknown command " + args[1]);
            }
        }
    }
}
